// Typed records of the coordinator's state over the key-value Store port. Keys:
//   spec                      the applied spec (YAML text) and its version; a large one in
//                             pieces under spec-pieces/ (spec-storage.ts)
//   modes/<node>              coordinator-owned node modes
//   operations/<id>           drains, restarts, rolling restarts (in flight and recent)
//   journal/<command id>      every command sent to an agent, written before it is sent
//   holders/<cluster>         last desired holder per VIP, so a restart moves nothing
//   backends/<cluster>        what is wanted of each backend server (drained, disabled, weight)
//   pins/<cluster>/<vip>      where an operator moved or pinned a VIP (lbha move)
//   drills/<cluster>          the latest drill's figures and when one last passed (lbha drill)
//   handovers/<cluster>       the connection handovers in progress, so a restart ends none
//   counters/desired-version  desired-state versions handed out so far (reserved in blocks)
import type { BackendAdmin, CommandAction, CommandState, NodeMode } from '@lbha/shared';
import type { VipDrillResult } from '../operations/drill-figures.js';
import { StoreError } from '../errors.js';
import type { HandoverEntry } from '../handover-plan.js';
import { SpecStorage, type SpecPutResult, type SpecRecord } from './spec-storage.js';
import { del, put, type Store, type StoreEntry, type StoreOp } from './store.js';

export type { SpecPutResult, SpecRecord } from './spec-storage.js';


export interface ModeRecord {
  readonly mode: NodeMode;
  readonly reason: string;
  readonly actor: string;
  readonly sinceMs: number;
  /** The operation that set it, empty when set directly. */
  readonly operationId: string;
}

/** Where an operator put a VIP: honoured by placement while the node can hold it. */
export interface PinRecord {
  readonly node: string;
  /** --pin: kept until unpinned; otherwise dropped once the node cannot hold the VIP. */
  readonly sticky: boolean;
  readonly actor: string;
  readonly reason: string;
  readonly sinceMs: number;
  /** The move operation that set it. */
  readonly operationId: string;
}

/** A cluster's drills as metrics and alerts need them: kept apart from operations, which are pruned. */
export interface DrillRecord {
  /** The latest finished drill. */
  readonly operationId: string;
  readonly finishedMs: number;
  readonly passed: boolean;
  readonly results: readonly VipDrillResult[];
  /** When a drill of the cluster last passed (0: never). */
  readonly lastPassedMs: number;
}

/** What is wanted of one backend server of one pool, on every LB node of its cluster. */
export interface BackendIntentRecord {
  readonly pool: string;
  readonly server: string;
  readonly admin: BackendAdmin;
  /** null: the configured weight. */
  readonly weight: number | null;
  readonly actor: string;
  readonly reason: string;
  readonly sinceMs: number;
  /** The operation that set it. */
  readonly operationId: string;
}

/** Per cluster: "pool/server" -> what is wanted of it. Servers never changed by lbha are absent. */
export type BackendIntents = Readonly<Record<string, BackendIntentRecord>>;

export type BackendOperationKind = 'backend_drain' | 'backend_undrain' | 'backend_disable' | 'backend_enable' | 'backend_weight';
export const BACKEND_OPERATION_KINDS: readonly BackendOperationKind[] = ['backend_drain', 'backend_undrain', 'backend_disable', 'backend_enable', 'backend_weight'];

export type OperationKind = 'drain' | 'undrain' | 'restart' | 'reload' | 'rolling_restart' | 'move' | 'drill' | BackendOperationKind;

export function isBackendKind(kind: OperationKind): kind is BackendOperationKind {
  return (BACKEND_OPERATION_KINDS as readonly string[]).includes(kind);
}

/** pending -> running -> succeeded | failed | cancelled */
export type OperationState = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export type StepState = 'running' | 'succeeded' | 'failed' | 'skipped';

export interface OperationStep {
  readonly name: string;
  readonly state: StepState;
  readonly message: string;
  readonly startedMs: number;
  readonly finishedMs: number;
}

export interface OperationRecord {
  readonly id: string;
  readonly kind: OperationKind;
  readonly cluster: string;
  readonly node: string;
  readonly service: string;
  readonly state: OperationState;
  readonly message: string;
  readonly createdMs: number;
  readonly updatedMs: number;
  /**
   * When the operation will have ended at the latest: its timeout (once per node for a rolling
   * restart) from its start, later by the time the coordinator was away when it was resumed.
   * 0 in records written before deadlines were recorded.
   */
  readonly deadlineMs: number;
  /** Completed and current steps, in order; a resumed operation skips the completed ones. */
  readonly steps: readonly OperationStep[];
  readonly actor: string;
  readonly reason: string;
  readonly force: boolean;
  readonly timeoutMs: number;
  readonly activeConnections: number;
  /** Facts a resumed operation needs, e.g. the mode to restore after a restart. */
  readonly data: Readonly<Record<string, string>>;
}

export interface JournalEntry {
  /** Command id: derived from the operation and step, so a resumed step reuses it. */
  readonly id: string;
  readonly node: string;
  readonly action: CommandAction;
  readonly operationId: string;
  /** 'pending' until the agent reports; then the agent's last reported state. */
  readonly state: 'pending' | CommandState;
  readonly message: string;
  readonly activeConnections: number;
  readonly createdMs: number;
  readonly updatedMs: number;
  readonly deadlineMs: number;
}

export function isFinalCommandState(s: JournalEntry['state']): boolean {
  return s === 'succeeded' || s === 'failed' || s === 'rejected';
}

export function isFinalOperationState(s: OperationState): boolean {
  return s === 'succeeded' || s === 'failed' || s === 'cancelled';
}


/** How many finished operations and journal entries are kept for inspection. */
const KEEP_FINISHED_OPERATIONS = 200;
const KEEP_FINISHED_COMMANDS = 1000;
/** Desired-state versions are reserved in blocks so that handing one out rarely writes. */
const VERSION_BLOCK = 1000;
/** The next block is reserved while fewer than this many versions are left (nextDesiredVersion). */
const VERSION_RESERVE_AHEAD = VERSION_BLOCK / 2;

export class CoordinatorState {
  private versionReserved = 0;
  private versionNext = 0;
  private reserving: Promise<void> | undefined;

  private readonly spec: SpecStorage;

  constructor(private readonly store: Store) {
    this.spec = new SpecStorage(store);
  }

  /** The applied spec, read whole (a spec too large for one write is stored in pieces: spec-storage.ts). */
  getSpec(): Promise<SpecRecord | undefined> {
    return this.spec.get();
  }

  /**
   * Stores a new spec version. Refused (nothing written) when `expectedVersion` is not 0 and
   * differs from the stored version, or when another writer changed the spec since it was read.
   */
  putSpec(yaml: string, expectedVersion: number, actor: string, reason: string, nowMs: number): Promise<SpecPutResult> {
    return this.spec.put(yaml, expectedVersion, actor, reason, nowMs);
  }

  async modes(): Promise<Map<string, ModeRecord>> {
    return new Map((await this.store.list<ModeRecord>('modes/')).map((e) => [e.key.slice('modes/'.length), e.value]));
  }

  async operations(): Promise<OperationRecord[]> {
    return (await this.store.list<OperationRecord>('operations/')).map((e) => e.value);
  }

  async journal(): Promise<JournalEntry[]> {
    return (await this.store.list<JournalEntry>('journal/')).map((e) => e.value);
  }

  async holders(): Promise<Map<string, Record<string, string>>> {
    return new Map((await this.store.list<Record<string, string>>('holders/')).map((e) => [e.key.slice('holders/'.length), e.value]));
  }

  async backendIntents(): Promise<Map<string, BackendIntents>> {
    return new Map((await this.store.list<BackendIntents>('backends/')).map((e) => [e.key.slice('backends/'.length), e.value]));
  }

  async drills(): Promise<Map<string, DrillRecord>> {
    return new Map((await this.store.list<DrillRecord>('drills/')).map((e) => [e.key.slice('drills/'.length), e.value]));
  }

  /** Pins by cluster, then VIP. */
  async pins(): Promise<Map<string, Map<string, PinRecord>>> {
    const out = new Map<string, Map<string, PinRecord>>();
    for (const e of await this.store.list<PinRecord>('pins/')) {
      const [cluster, vip] = e.key.slice('pins/'.length).split('/');
      if (cluster === undefined || vip === undefined) continue;
      let m = out.get(cluster);
      if (!m) out.set(cluster, (m = new Map()));
      m.set(vip, e.value);
    }
    return out;
  }

  async handovers(): Promise<Map<string, HandoverEntry[]>> {
    return new Map((await this.store.list<HandoverEntry[]>('handovers/')).map((e) => [e.key.slice('handovers/'.length), e.value]));
  }

  /** Writes several records atomically (e.g. an operation and the mode it sets). */
  async write(records: {
    readonly modes?: ReadonlyArray<readonly [string, ModeRecord | null]>;
    readonly operations?: readonly OperationRecord[];
    readonly journal?: readonly JournalEntry[];
    readonly holders?: ReadonlyArray<readonly [string, Readonly<Record<string, string>>]>;
    readonly backends?: ReadonlyArray<readonly [string, BackendIntents]>;
    /** [cluster, vip, pin or null to remove it]. */
    readonly pins?: ReadonlyArray<readonly [string, string, PinRecord | null]>;
    readonly drills?: ReadonlyArray<readonly [string, DrillRecord]>;
    readonly handovers?: ReadonlyArray<readonly [string, readonly HandoverEntry[]]>;
  }): Promise<void> {
    const ops: StoreOp[] = [];
    for (const [node, m] of records.modes ?? []) ops.push(m === null ? del(`modes/${node}`) : put(`modes/${node}`, m));
    for (const o of records.operations ?? []) ops.push(put(`operations/${o.id}`, o));
    for (const j of records.journal ?? []) ops.push(put(`journal/${j.id}`, j));
    for (const [cluster, h] of records.holders ?? []) ops.push(put(`holders/${cluster}`, h));
    for (const [cluster, b] of records.backends ?? []) ops.push(put(`backends/${cluster}`, b));
    for (const [cluster, d] of records.drills ?? []) ops.push(put(`drills/${cluster}`, d));
    for (const [cluster, vip, p] of records.pins ?? []) ops.push(p === null ? del(`pins/${cluster}/${vip}`) : put(`pins/${cluster}/${vip}`, p));
    for (const [cluster, h] of records.handovers ?? []) ops.push(h.length === 0 ? del(`handovers/${cluster}`) : put(`handovers/${cluster}`, h));
    if (ops.length === 0) return;
    const r = await this.store.txn([], ops);
    if (!r.ok) throw new StoreError(`unconditional write refused: ${r.conflicts.join(', ')}`);
  }

  /** Drops the oldest finished operations and journal entries beyond what is kept. */
  async prune(): Promise<void> {
    const ops = (await this.store.list<OperationRecord>('operations/')).filter((e) => isFinalOperationState(e.value.state));
    const cmds = (await this.store.list<JournalEntry>('journal/')).filter((e) => isFinalCommandState(e.value.state));
    const oldest = <T>(list: Array<StoreEntry<T>>, keep: number, time: (t: T) => number) =>
      list.sort((a, b) => time(a.value) - time(b.value)).slice(0, Math.max(0, list.length - keep));
    const drop = [
      ...oldest(ops, KEEP_FINISHED_OPERATIONS, (o) => o.updatedMs),
      ...oldest(cmds, KEEP_FINISHED_COMMANDS, (c) => c.updatedMs),
    ];
    if (drop.length === 0) return;
    await this.store.txn(
      drop.map((e) => ({ key: e.key, revision: e.revision })),
      drop.map((e) => del(e.key)),
    );
  }

  /**
   * A desired-state version never handed out before, also across restarts: versions are
   * reserved in blocks in the store, and a restart starts after the last reserved block. The
   * next block is reserved while half of the current one is left, so that a reconcile pass
   * numbering desired states does not wait for the store: a reservation is a store write,
   * queued behind the holders' writes (with etcd, a round trip each; with the file store, an
   * appended and fsynced line each), and every health flip that came in meanwhile waited with
   * the pass. Only a burst of more than half a block before the store answers waits.
   */
  async nextDesiredVersion(): Promise<number> {
    while (this.versionNext >= this.versionReserved) await this.reserve();
    const version = ++this.versionNext;
    // A failure here is seen by the call that has to wait for the block (it tries again).
    if (this.versionReserved - this.versionNext < VERSION_RESERVE_AHEAD) this.reserve().catch(() => undefined);
    return version;
  }

  /** Reserves the next block (the reservation in progress, if one is). */
  private reserve(): Promise<void> {
    this.reserving ??= this.reserveBlock().finally(() => (this.reserving = undefined));
    return this.reserving;
  }

  private async reserveBlock(): Promise<void> {
    for (;;) {
      const e = await this.store.get<number>('counters/desired-version');
      const from = Math.max(e?.value ?? 0, this.versionReserved);
      const to = from + VERSION_BLOCK;
      const r = await this.store.txn([{ key: 'counters/desired-version', revision: e?.revision ?? 0 }], [put('counters/desired-version', to)]);
      if (r.ok) {
        // The block follows the one in use (reserved ahead): its versions come after that one's.
        // Otherwise (the first block, or another coordinator reserved meanwhile) it starts now.
        if (from > this.versionReserved) this.versionNext = Math.max(this.versionNext, from);
        this.versionReserved = to;
        return;
      }
    }
  }
}
