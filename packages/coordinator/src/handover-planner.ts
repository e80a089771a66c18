// Planned VIP moves with connection handover (docs/design/handover.md).
//
// When placement moves a VIP away from a node that still serves (drain, undrain, failback,
// rebalancing), the move is made in two pushes: first both nodes get the handover (the new
// holder forwards packets of connections it did not see start, the old holder keeps answering
// them), with the old placement; once both agents have applied it, the new placement. A move
// away from a node that is unhealthy or gone is not held back: there is nothing to hand over.
//
// The reconciler feeds this planner each pass's placement and what it knows of the nodes; the
// planner answers which placement to push now and which handover each node runs. No I/O.
import { isIP } from 'node:net';
import type { Handover, NodeMode } from '@lbha/shared';
import type { ClusterPlacement } from './placement.js';
import { vipKey, type ClusterSpec } from './spec/cluster-spec.js';

export interface HandoverEntry {
  readonly cluster: string;
  readonly vip: string;
  readonly from: string;
  readonly to: string;
  readonly fromAddress: string;
  readonly toAddress: string;
  readonly startedMs: number;
  untilMs: number;
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
  /** Nodes that report holding the VIP. */
  actualHolders(vip: string): readonly string[];
  /** The node's mode as the coordinator has it now. */
  mode(node: string): NodeMode;
  /** The handovers nodes report running for the VIP (a restarted coordinator adopts them). */
  reported(vip: string): ReadonlyArray<{ readonly node: string; readonly handover: Handover }>;
}

export interface PlanResult {
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

/** Longest wait for both agents to confirm a handover before the VIP moves anyway. */
export const PREPARE_TIMEOUT_MS = 2_000;
/** Agents report a handover until they have applied its end: no adopting it back meanwhile. */
const ADOPT_GUARD_MS = 10_000;

interface Hold {
  readonly placement: ClusterPlacement;
  readonly modes: ReadonlyMap<string, NodeMode>;
  readonly sinceMs: number;
  /** node -> the desired-state version carrying its handover; set once pushed. */
  needs: Map<string, number> | undefined;
}

/** The node's address on `iface` when it is of the VIP's family (the handover forwards within one family). */
function addressOn(c: ClusterSpec, node: string, iface: string, vip: string): string {
  const a = c.nodes.find((n) => n.name === node)?.interfaces.find((i) => i.name === iface)?.address ?? '';
  const slash = a.indexOf('/');
  const address = slash < 0 ? '' : a.slice(0, slash);
  return address !== '' && isIP(address) === isIP(vip) ? address : '';
}

export class HandoverPlanner {
  private readonly entries = new Map<string, HandoverEntry>();
  /** vipKey -> when this planner last ended a handover of it. */
  private readonly ended = new Map<string, number>();
  private readonly holds = new Map<string, Hold>();
  /** The placement each cluster's agents were last given (outside a hold). */
  private readonly pushed = new Map<string, ClusterPlacement>();
  /** The mode each node was last sent (outside a hold). */
  private readonly modes = new Map<string, NodeMode>();

  plan(c: ClusterSpec, next: ClusterPlacement, ctx: PlanContext): PlanResult {
    const now = ctx.now;
    const ended: Array<{ entry: HandoverEntry; reason: string }> = [];
    const end = (key: string, entry: HandoverEntry, reason: string) => {
      this.entries.delete(key);
      this.ended.set(key, now);
      ended.push({ entry, reason });
    };
    for (const [key, at] of this.ended) if (now - at > ADOPT_GUARD_MS) this.ended.delete(key);
    for (const [key, e] of this.entries) {
      if (e.cluster !== c.name) continue;
      const vp = next.vips.find((v) => v.vip === e.vip);
      if (!vp) end(key, e, 'the VIP is no longer in the spec');
      else if (now >= e.untilMs) end(key, e, 'window over');
      else if (vp.holder !== e.to) end(key, e, `${vp.holder} should hold it now`);
      else if (!ctx.live(e.from) || !ctx.healthy(e.from)) end(key, e, `${e.from} can no longer serve its connections`);
      else if (!ctx.live(e.to)) end(key, e, `the agent of ${e.to} is gone`);
    }

    // A coordinator that restarted during a handover finds it in the agents' reports: keep it.
    for (const vp of next.vips) {
      const key = vipKey(c.name, vp.vip);
      if (this.entries.has(key) || this.ended.has(key)) continue;
      const adopted = this.adopt(c, vp.vip, vp.holder, ctx);
      if (adopted) this.entries.set(key, adopted);
    }

    let hold = this.holds.get(c.name);
    const base = hold?.placement ?? this.pushed.get(c.name);
    const started: HandoverEntry[] = [];
    let unplanned = false;
    for (const vp of base ? next.vips : []) {
      const from = base?.vips.find((v) => v.vip === vp.vip)?.holder;
      if (from === undefined || from === vp.holder) continue;
      const key = vipKey(c.name, vp.vip);
      const existing = this.entries.get(key);
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
      if (existing) end(key, existing, `replaced by a move from ${from} to ${vp.holder}`);
      const entry: HandoverEntry = { cluster: c.name, vip: vp.vip, from, to: vp.holder, fromAddress, toAddress, startedMs: now, untilMs: now + c.policy.handoverMs };
      this.entries.set(key, entry);
      started.push(entry);
    }

    const unconfirmed: string[] = [];
    if (unplanned) {
      // Something moves because a node failed: nothing waits for handovers.
      this.holds.delete(c.name);
    } else if (started.length > 0 && base) {
      const modes = hold?.modes ?? new Map(c.nodes.map((n) => [n.name, this.modes.get(n.name) ?? ctx.mode(n.name)]));
      this.holds.set(c.name, { placement: base, modes, sinceMs: hold?.sinceMs ?? now, needs: undefined });
    }
    hold = this.holds.get(c.name);
    if (hold) {
      const confirmed = hold.needs !== undefined && [...hold.needs].every(([n, v]) => ctx.applied(n) >= v || !ctx.live(n));
      if (confirmed) {
        this.holds.delete(c.name);
      } else if (now - hold.sinceMs >= PREPARE_TIMEOUT_MS) {
        this.holds.delete(c.name);
        for (const [n, v] of hold.needs ?? []) if (ctx.applied(n) < v) unconfirmed.push(n);
      }
    }
    hold = this.holds.get(c.name);
    if (!hold) {
      this.pushed.set(c.name, next);
      for (const n of c.nodes) this.modes.set(n.name, ctx.mode(n.name));
    }
    const held = hold?.modes;

    let wakeAt: number | null = hold ? hold.sinceMs + PREPARE_TIMEOUT_MS : null;
    for (const e of this.entries.values()) if (e.cluster === c.name && (wakeAt === null || e.untilMs < wakeAt)) wakeAt = e.untilMs;
    return {
      placement: hold?.placement ?? next,
      modeOf: (n) => held?.get(n) ?? ctx.mode(n),
      wakeAt,
      started,
      ended,
      unconfirmed,
    };
  }

  private adopt(c: ClusterSpec, vip: string, holder: string, ctx: PlanContext): HandoverEntry | undefined {
    const spec = c.vips.find((v) => v.name === vip);
    if (!spec) return undefined;
    const incoming = ctx.reported(vip).find((r) => r.node === holder && r.handover.role === 'incoming' && r.handover.untilMs > ctx.now);
    if (!incoming) return undefined;
    const from = c.nodes.find((n) => n.name !== holder && addressOn(c, n.name, spec.interface, spec.address) === incoming.handover.peer)?.name;
    if (from === undefined || !ctx.live(from) || !ctx.healthy(from)) return undefined;
    const toAddress = addressOn(c, holder, spec.interface, spec.address);
    return { cluster: c.name, vip, from, to: holder, fromAddress: incoming.handover.peer, toAddress, startedMs: ctx.now, untilMs: incoming.handover.untilMs };
  }

  /** After the reconciler built and versioned the cluster's desired states: what a hold waits for. */
  pushedVersions(cluster: string, versionOf: (node: string) => number | undefined): void {
    const hold = this.holds.get(cluster);
    if (!hold || hold.needs) return;
    const needs = new Map<string, number>();
    for (const e of this.entries.values()) {
      if (e.cluster !== cluster) continue;
      for (const n of [e.from, e.to]) {
        const v = versionOf(n);
        if (v !== undefined) needs.set(n, v);
      }
    }
    hold.needs = needs;
  }

  /** What `node` runs for `vip` of `cluster`, if anything. */
  handoverOf(cluster: string, vip: string, node: string): Handover | undefined {
    const e = this.entries.get(vipKey(cluster, vip));
    if (!e) return undefined;
    if (e.to === node) return { role: 'incoming', peer: e.fromAddress, untilMs: e.untilMs };
    if (e.from === node) return { role: 'outgoing', peer: e.toAddress, untilMs: e.untilMs };
    return undefined;
  }

  /** Changes with every handover start, end and hold; part of the desired-state cache key. */
  key(cluster: string): string {
    const parts: unknown[] = [this.holds.has(cluster)];
    for (const e of this.entries.values()) if (e.cluster === cluster) parts.push([e.vip, e.from, e.to, e.untilMs]);
    return JSON.stringify(parts);
  }

  /** Handovers away from `node`; the drain waits on them. */
  from(node: string): HandoverEntry[] {
    return [...this.entries.values()].filter((e) => e.from === node);
  }

  /** Makes the handovers away from `node` last until `untilMs` (a drain's deadline); returns their clusters. */
  extendFrom(node: string, untilMs: number): string[] {
    const out = new Set<string>();
    for (const e of this.entries.values()) {
      if (e.from === node && e.untilMs < untilMs) {
        e.untilMs = untilMs;
        out.add(e.cluster);
      }
    }
    return [...out];
  }

  /** Ends the handovers away from `node` at the next pass; returns their clusters. */
  endFrom(node: string, now: number): string[] {
    const out = new Set<string>();
    for (const e of this.entries.values()) {
      if (e.from === node) {
        e.untilMs = Math.min(e.untilMs, now);
        out.add(e.cluster);
      }
    }
    return [...out];
  }

  forgetCluster(cluster: string): void {
    for (const n of this.pushed.get(cluster)?.classes.keys() ?? []) this.modes.delete(n);
    this.holds.delete(cluster);
    this.pushed.delete(cluster);
    for (const [k, e] of this.entries) if (e.cluster === cluster) this.entries.delete(k);
  }

  list(): HandoverEntry[] {
    return [...this.entries.values()];
  }
}
