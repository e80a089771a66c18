// Planned VIP moves with connection handover (docs/design/handover.md).
//
// When placement moves a VIP away from a node that still serves (drain, undrain, failback,
// rebalancing), the move is made in two pushes: first both nodes get the handover (the new
// holder forwards packets of connections it did not see start, the old holder keeps answering
// them), with the old placement; once both agents have applied it, the new placement. A move
// away from a node that is unhealthy or gone is not held back: there is nothing to hand over.
//
// planHandovers is pure: one cluster's placement, what is known of its nodes and the memory of
// the previous pass in; the placement to push now, each node's handover and the next memory out.
import { isIP } from 'node:net';
import type { Handover, NodeMode } from '@lbha/shared';
import { followLatency } from './ack-latency.js';
import type { ClusterPlacement } from './placement.js';
import type { ClusterSpec } from './spec/cluster-spec.js';

export interface HandoverEntry {
  readonly cluster: string;
  readonly vip: string;
  readonly from: string;
  readonly to: string;
  readonly fromAddress: string;
  readonly toAddress: string;
  readonly startedMs: number;
  readonly untilMs: number;
}

export interface PlanContext {
  readonly now: number;
  /** Connected, not stale, reporting. */
  live(node: string): boolean;
  /** The node's agent says it runs handovers (an older one would ignore them). */
  capable(node: string): boolean;
  healthy(node: string): boolean;
  /** Desired-state version the node's agent has applied. */
  applied(node: string): number;
  /** Version of the desired state the node was last given (set after the previous pass). */
  versionOf(node: string): number | undefined;
  /** Nodes that report holding the VIP. */
  actualHolders(vip: string): readonly string[];
  /** The node's mode as the coordinator has it now. */
  mode(node: string): NodeMode;
  /** The handovers nodes report running for the VIP (a restarted coordinator adopts them). */
  reported(vip: string): ReadonlyArray<{ readonly node: string; readonly handover: Handover }>;
  /**
   * The connections `node`, live and running the outgoing side of the VIP's handover, still
   * serves on the VIP now that it has left the node; undefined when not known (an older agent,
   * an agent that is away, the VIP not gone yet).
   */
  connections(node: string, vip: string): number | undefined;
  /** The longest of the node's agent's recent push-to-acknowledgement round trips; undefined before the first. */
  ackLatencyMs?(node: string): number | undefined;
}

/** A cluster's push held back with its old placement until both agents run the handover. */
interface Hold {
  readonly placement: ClusterPlacement;
  readonly modes: ReadonlyMap<string, NodeMode>;
  readonly sinceMs: number;
  /** node -> the desired-state version carrying its handover; known from the pass after it was built. */
  readonly needs: ReadonlyMap<string, number> | undefined;
}

/** What planning remembers of one cluster between passes. */
export interface HandoverMemory {
  /** Per VIP: the handover in progress. */
  readonly entries: ReadonlyMap<string, HandoverEntry>;
  /** Per VIP: when a handover of it was last ended here (not adopted back from reports meanwhile). */
  readonly ended: ReadonlyMap<string, number>;
  readonly hold: Hold | undefined;
  /** The placement the cluster's agents were last given (outside a hold). */
  readonly pushed: ClusterPlacement | undefined;
  /** The mode each node was last sent (outside a hold). */
  readonly modes: ReadonlyMap<string, NodeMode>;
}

export const NO_HANDOVERS: HandoverMemory = Object.freeze({ entries: new Map(), ended: new Map(), hold: undefined, pushed: undefined, modes: new Map() });

export interface PlanResult {
  readonly memory: HandoverMemory;
  /** What to build this cluster's desired states from now. */
  readonly placement: ClusterPlacement;
  /** The modes to send: held back with the placement, since a node's mode moves its VIPs too. */
  readonly modeOf: (node: string) => NodeMode;
  readonly wakeAt: number | null;
  readonly started: readonly HandoverEntry[];
  readonly ended: ReadonlyArray<{ readonly entry: HandoverEntry; readonly reason: string }>;
  /** Set when the first push went unconfirmed and the move went ahead without waiting. */
  readonly unconfirmed: readonly string[];
}

/**
 * Longest wait for both agents to confirm a handover before the VIP moves anyway, on agents that
 * answer fast: the push, its apply (nft rules, a `keepalived -t` of the new config) and the
 * acknowledgement. On agents that answer slowly it follows them (prepareBudgetMs).
 */
export const PREPARE_TIMEOUT_MS = 2_000;
/** A prepare is one push and apply, with a config test an ordinary push may not need: this many of the agents' recent round trips. */
const PREPARE_ROUND_TRIPS = 4;
/** The longest a prepare is waited for, however slowly the agents have answered. */
export const MAX_PREPARE_MS = 10_000;

/**
 * How long the cluster's agents are given to confirm a handover: PREPARE_TIMEOUT_MS, or
 * PREPARE_ROUND_TRIPS times the slowest recent push-to-acknowledgement round trip of its nodes
 * if that is longer (a loaded node), at most MAX_PREPARE_MS. Waiting longer only delays the
 * move; not waiting long enough cuts the connections the handover is for.
 */
export function prepareBudgetMs(latencies: ReadonlyArray<number | undefined>): number {
  return followLatency(latencies, PREPARE_TIMEOUT_MS, PREPARE_ROUND_TRIPS, MAX_PREPARE_MS);
}
/**
 * The longest a handover lasts while the old holder still serves connections through it (the
 * agents' own limit too). Until then a window with connections left is extended, half a
 * `policy.handover` before it would end, by one `policy.handover`.
 */
export const HANDOVER_MAX_MS = 3_600_000;
/** Agents report a handover until they have applied its end: no adopting it back meanwhile. */
const ADOPT_GUARD_MS = 10_000;

/** The node's address on `iface` when it is of the VIP's family (the handover forwards within one family). */
function addressOn(c: ClusterSpec, node: string, iface: string, vip: string): string {
  const a = c.nodes.find((n) => n.name === node)?.interfaces.find((i) => i.name === iface)?.address ?? '';
  const slash = a.indexOf('/');
  const address = slash < 0 ? '' : a.slice(0, slash);
  return address !== '' && isIP(address) === isIP(vip) ? address : '';
}

function adopt(c: ClusterSpec, vip: string, holder: string, ctx: PlanContext): HandoverEntry | undefined {
  const spec = c.vips.find((v) => v.name === vip);
  if (!spec) return undefined;
  const incoming = ctx.reported(vip).find((r) => r.node === holder && r.handover.role === 'incoming' && r.handover.untilMs > ctx.now);
  if (!incoming) return undefined;
  const from = c.nodes.find((n) => n.name !== holder && addressOn(c, n.name, spec.interface, spec.address) === incoming.handover.peer)?.name;
  if (from === undefined || failing(from, ctx)) return undefined;
  const toAddress = addressOn(c, holder, spec.interface, spec.address);
  return { cluster: c.name, vip, from, to: holder, fromAddress: incoming.handover.peer, toAddress, startedMs: ctx.now, untilMs: incoming.handover.untilMs };
}

/**
 * The node's agent reports it unhealthy. An agent that is away (restarting, or cut off from the
 * coordinator) says nothing about the connections: its node's tables and proxy keep serving
 * them, and ending the handover would have the other node reset them.
 */
function failing(node: string, ctx: PlanContext): boolean {
  return ctx.live(node) && !ctx.healthy(node);
}

/** The VIP has moved: the new holder alone holds it. */
function moved(vip: string, e: HandoverEntry, ctx: PlanContext): boolean {
  const h = ctx.actualHolders(vip);
  return h.length === 1 && h[0] === e.to;
}

/**
 * The end of a window whose old holder still serves connections: half a `policy.handover` before
 * it would end, it is moved to one `policy.handover` from now, within HANDOVER_MAX_MS of its start.
 */
function extended(e: HandoverEntry, handoverMs: number, ctx: PlanContext): number {
  const n = ctx.connections(e.from, e.vip);
  if (n === undefined || n === 0 || e.untilMs - ctx.now > handoverMs / 2) return e.untilMs;
  return Math.max(e.untilMs, Math.min(e.startedMs + HANDOVER_MAX_MS, ctx.now + handoverMs));
}

/** The versions a new hold waits for: those its handovers were pushed with. */
function needsOf(entries: ReadonlyMap<string, HandoverEntry>, versionOf: (node: string) => number | undefined): Map<string, number> {
  const needs = new Map<string, number>();
  for (const e of entries.values()) {
    for (const n of [e.from, e.to]) {
      const v = versionOf(n);
      if (v !== undefined) needs.set(n, v);
    }
  }
  return needs;
}

/** The modes each node is sent now: `last` itself when they are the same (most passes). */
function modesNow(c: ClusterSpec, ctx: PlanContext, last: ReadonlyMap<string, NodeMode>): ReadonlyMap<string, NodeMode> {
  if (last.size === c.nodes.length && c.nodes.every((n) => last.get(n.name) === ctx.mode(n.name))) return last;
  return new Map(c.nodes.map((n) => [n.name, ctx.mode(n.name)]));
}

/**
 * The memory's Maps are copied only when something changes in them: most passes start and end
 * no handover, and keep the very same Maps (which the loop and the desired states' inputs then
 * compare at once).
 */
export function planHandovers(c: ClusterSpec, next: ClusterPlacement, ctx: PlanContext, memory: HandoverMemory): PlanResult {
  const now = ctx.now;
  // Read from `entries`; written through `changed()`, which copies them once.
  let entries: ReadonlyMap<string, HandoverEntry> = memory.entries;
  const changed = (): Map<string, HandoverEntry> => (entries === memory.entries ? (entries = new Map(memory.entries)) : entries) as Map<string, HandoverEntry>;
  let endedAt: ReadonlyMap<string, number> = memory.ended;
  for (const at of memory.ended.values()) {
    if (now - at <= ADOPT_GUARD_MS) continue;
    endedAt = new Map([...memory.ended].filter(([, t]) => now - t <= ADOPT_GUARD_MS));
    break;
  }
  const endedNow = (): Map<string, number> => (endedAt === memory.ended ? (endedAt = new Map(memory.ended)) : endedAt) as Map<string, number>;
  let hold = memory.hold;
  // The previous pass built the desired states carrying the hold's handovers: now their versions are known.
  if (hold && !hold.needs) hold = { ...hold, needs: needsOf(memory.entries, (n) => ctx.versionOf(n)) };

  const ended: Array<{ entry: HandoverEntry; reason: string }> = [];
  const end = (vip: string, entry: HandoverEntry, reason: string) => {
    changed().delete(vip);
    endedNow().set(vip, now);
    ended.push({ entry, reason });
  };
  for (const [vip, e] of memory.entries) {
    const vp = next.vips.find((v) => v.vip === vip);
    if (!vp) end(vip, e, 'the VIP is no longer in the spec');
    else if (now >= e.untilMs) end(vip, e, 'window over');
    else if (vp.holder !== e.to) end(vip, e, `${vp.holder} should hold it now`);
    else if (failing(e.from, ctx)) end(vip, e, `${e.from} can no longer serve its connections`);
    else if (moved(vip, e, ctx) && ctx.connections(e.from, vip) === 0) end(vip, e, `${e.from} serves no connection of it any more`);
    else {
      const until = extended(e, c.policy.handoverMs, ctx);
      if (until !== e.untilMs) changed().set(vip, { ...e, untilMs: until });
    }
  }

  // A coordinator that restarted during a handover finds it in the agents' reports: keep it.
  for (const vp of next.vips) {
    if (entries.has(vp.vip) || endedAt.has(vp.vip)) continue;
    const adopted = adopt(c, vp.vip, vp.holder, ctx);
    if (adopted) changed().set(vp.vip, adopted);
  }

  const base = hold?.placement ?? memory.pushed;
  const started: HandoverEntry[] = [];
  let unplanned = false;
  for (const vp of base ? next.vips : []) {
    const from = base?.vips.find((v) => v.vip === vp.vip)?.holder;
    if (from === undefined || from === vp.holder) continue;
    const existing = entries.get(vp.vip);
    if (existing && existing.from === from && existing.to === vp.holder) continue;
    const spec = c.vips.find((v) => v.name === vp.vip);
    const fromAddress = spec ? addressOn(c, from, spec.interface, spec.address) : '';
    const toAddress = spec ? addressOn(c, vp.holder, spec.interface, spec.address) : '';
    const holders = ctx.actualHolders(vp.vip);
    const planned =
      c.policy.handoverMs > 0 &&
      spec !== undefined &&
      fromAddress !== '' &&
      toAddress !== '' &&
      holders.length === 1 &&
      holders[0] === from &&
      ctx.live(from) &&
      ctx.healthy(from) &&
      ctx.live(vp.holder) &&
      ctx.capable(from) &&
      ctx.capable(vp.holder);
    if (!planned) {
      unplanned = true;
      continue;
    }
    if (existing) end(vp.vip, existing, `replaced by a move from ${from} to ${vp.holder}`);
    const entry: HandoverEntry = { cluster: c.name, vip: vp.vip, from, to: vp.holder, fromAddress, toAddress, startedMs: now, untilMs: now + c.policy.handoverMs };
    changed().set(vp.vip, entry);
    started.push(entry);
  }

  const unconfirmed: string[] = [];
  const prepareMs = prepareBudgetMs(c.nodes.map((n) => (ctx.live(n.name) ? ctx.ackLatencyMs?.(n.name) : undefined)));
  if (unplanned) {
    // Something moves because a node failed: nothing waits for handovers.
    hold = undefined;
  } else if (started.length > 0 && base) {
    const modes = hold?.modes ?? new Map(c.nodes.map((n) => [n.name, memory.modes.get(n.name) ?? ctx.mode(n.name)]));
    hold = { placement: base, modes, sinceMs: hold?.sinceMs ?? now, needs: undefined };
  }
  if (hold) {
    const confirmed = hold.needs !== undefined && [...hold.needs].every(([n, v]) => ctx.applied(n) >= v || !ctx.live(n));
    if (confirmed) {
      hold = undefined;
    } else if (now - hold.sinceMs >= prepareMs) {
      for (const [n, v] of hold.needs ?? []) if (ctx.applied(n) < v) unconfirmed.push(n);
      hold = undefined;
    }
  }
  let pushed = memory.pushed;
  let modes = memory.modes;
  if (!hold) {
    pushed = next;
    modes = modesNow(c, ctx, memory.modes);
  }
  const held = hold?.modes;

  let wakeAt: number | null = hold ? hold.sinceMs + prepareMs : null;
  for (const e of entries.values()) {
    // A window that may need extending is looked at again when it could be.
    const extendAt = e.untilMs - c.policy.handoverMs / 2;
    const at = extendAt > now ? extendAt : e.untilMs;
    if (wakeAt === null || at < wakeAt) wakeAt = at;
  }
  return {
    memory: { entries, ended: endedAt, hold, pushed, modes },
    placement: hold?.placement ?? next,
    modeOf: (n) => held?.get(n) ?? ctx.mode(n),
    wakeAt,
    started,
    ended,
    unconfirmed,
  };
}

/** What `node` runs for `vip`, if anything. */
export function handoverOf(memory: HandoverMemory, vip: string, node: string): Handover | undefined {
  const e = memory.entries.get(vip);
  if (!e) return undefined;
  if (e.to === node) return { role: 'incoming', peer: e.fromAddress, untilMs: e.untilMs };
  if (e.from === node) return { role: 'outgoing', peer: e.toAddress, untilMs: e.untilMs };
  return undefined;
}

/**
 * Sets the end of the handovers away from `node`: at least `untilMs` when `extend` (a drain
 * waits for its connections), at most `untilMs` otherwise (they are drained, or about to be
 * cut). Returns the same memory when nothing changes.
 */
export function retimeHandoversFrom(memory: HandoverMemory, node: string, untilMs: number, extend: boolean): HandoverMemory {
  let entries: Map<string, HandoverEntry> | undefined;
  for (const [vip, e] of memory.entries) {
    if (e.from !== node) continue;
    const until = extend ? Math.max(e.untilMs, untilMs) : Math.min(e.untilMs, untilMs);
    if (until === e.untilMs) continue;
    entries ??= new Map(memory.entries);
    entries.set(vip, { ...e, untilMs: until });
  }
  return entries ? { ...memory, entries } : memory;
}
