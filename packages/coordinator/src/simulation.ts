// What would happen if a node failed, a node were drained, a link went down or another spec were
// applied: the real placement run twice on the current state, once as it is and once changed,
// and each VIP's holder before and after with why. Pure; nothing is changed
// (docs/design/simulate.md). Pacemaker's crm_simulate is the precedent.
import type { InterlockInput } from './interlock.js';
import { place, UNKNOWN_NODE, type NodeCondition, type Placement, type VipPin } from './placement.js';
import { vipKey, type ClusterSpec, type Spec, type VipSpec } from './spec/cluster-spec.js';

export interface SimulatedChange {
  /** Nodes that become unhealthy (a failing fault check: proxy dead, node gone). */
  readonly fail: readonly string[];
  /** Nodes that are drained (no VIPs; still healthy). */
  readonly drain: readonly string[];
  /** Interfaces that go down. */
  readonly linksDown: ReadonlyArray<{ readonly node: string; readonly iface: string }>;
  /** A spec to place with instead of the running one. */
  readonly spec?: Spec;
}

export interface SimulationInput extends InterlockInput {
  /** vipKey -> pin (lbha move). */
  readonly pins: ReadonlyMap<string, VipPin>;
}

export interface SimulatedVip {
  readonly cluster: string;
  readonly vip: string;
  /** '' when the VIP is not in that spec. */
  readonly before: string;
  readonly after: string;
  readonly beforeReason: string;
  readonly afterReason: string;
}

export interface SimulationResult {
  readonly vips: readonly SimulatedVip[];
  /** What the change does to each changed node, in words. */
  readonly notes: readonly string[];
}

/** An interface check on `iface` in the cluster's checks, with its effect. */
function interfaceChecks(c: ClusterSpec, iface: string): Array<{ name: string; fault: boolean; penalty: number }> {
  return c.checks.flatMap((k) => (k.params.kind === 'interface' && k.params.interface === iface && k.effect !== 'none' ? [{ name: k.name, fault: k.effect === 'fault', penalty: k.penalty }] : []));
}

/** VIPs keepalived takes off `node` when `iface` goes down: the VIP's own interface or one it tracks. */
function faultedVips(c: ClusterSpec, iface: string): VipSpec[] {
  return c.vips.filter((v) => v.interface === iface || v.trackInterfaces.includes(iface));
}

/**
 * Who keepalived elects at once when the VIP's holder loses its instance: the highest priority
 * whose instance runs, that is the first of the ranking the nodes run now that is not `gone`.
 * Undefined when the holder keeps its instance (nothing moves before the coordinator does);
 * '' when no instance runs.
 */
function keepalivedFirst(ranking: readonly string[], gone: (node: string) => boolean): string | undefined {
  const holder = ranking[0];
  if (holder === undefined || !gone(holder)) return undefined;
  return ranking.find((n) => !gone(n)) ?? '';
}

export function simulate(input: SimulationInput, change: SimulatedChange): SimulationResult {
  const notes: string[] = [];
  const spec = change.spec ?? input.spec;
  const nodes = new Map<string, NodeCondition>(input.nodes);
  const cond = (n: string) => nodes.get(n) ?? UNKNOWN_NODE;
  for (const n of change.fail) {
    nodes.set(n, { ...cond(n), health: 'unhealthy', healthySinceMs: null });
    notes.push(`${n} fails: unhealthy`);
  }
  for (const n of change.drain) {
    nodes.set(n, { ...cond(n), mode: 'draining' });
    notes.push(`${n} is drained: it holds no VIP while another node can`);
  }
  /** vipKey -> nodes whose keepalived instance for it is in FAULT. */
  const faulted = new Map<string, Set<string>>();
  for (const { node, iface } of change.linksDown) {
    const c = spec.clusters.find((x) => x.nodes.some((n) => n.name === node));
    if (!c) continue;
    const checks = interfaceChecks(c, iface);
    const fault = checks.find((k) => k.fault);
    const penalty = checks.filter((k) => !k.fault).reduce((s, k) => s + k.penalty, 0);
    if (fault) nodes.set(node, { ...cond(node), health: 'unhealthy', healthySinceMs: null });
    else if (penalty > 0) nodes.set(node, { ...cond(node), penalty: cond(node).penalty + penalty });
    const vips = faultedVips(c, iface);
    for (const v of vips) {
      const k = vipKey(c.name, v.name);
      let s = faulted.get(k);
      if (!s) faulted.set(k, (s = new Set()));
      s.add(node);
    }
    const effects = [
      ...(fault ? [`check ${fault.name} fails: ${node} is unhealthy`] : []),
      ...(penalty > 0 ? [`penalty checks ${checks.filter((k) => !k.fault).map((k) => k.name).join(', ')} take ${penalty} off ${node}`] : []),
      ...(vips.length > 0 ? [`keepalived puts ${node}'s instances of ${vips.map((v) => v.name).join(', ')} in FAULT`] : []),
    ];
    notes.push(`${node}:${iface} down: ${effects.length > 0 ? effects.join('; ') : 'nothing uses or checks it'}`);
  }

  // Standby readiness as the agents report it now: a failed node's standby is chosen as it would be.
  const readiness = input.notReady ? { notReady: input.notReady } : {};
  const before = place({ spec: input.spec, nodes: input.nodes, holders: input.holders, nowMs: input.nowMs, pins: input.pins, ...readiness });
  const after = place({ spec, nodes, holders: input.holders, nowMs: input.nowMs, pins: input.pins, ...readiness });
  // Nodes whose keepalived instances are all in FAULT after the change: an unhealthy node's
  // health track file faults every instance.
  const unhealthy = new Set([...nodes].filter(([, n]) => n.health === 'unhealthy').map(([name]) => name));
  const beforeVips = new Map([...before.clusters].flatMap(([cluster, cp]) => cp.vips.map((vp) => [vipKey(cluster, vp.vip), vp] as const)));
  const out = new Map<string, SimulatedVip>();
  const add = (p: Placement, side: 'before' | 'after') => {
    for (const [cluster, cp] of p.clusters) {
      for (const vp of cp.vips) {
        const k = vipKey(cluster, vp.vip);
        let holder = vp.holder;
        let reason = vp.reason;
        const down = side === 'after' ? faulted.get(k) : undefined;
        if (down?.has(holder)) {
          // keepalived, not placement, moves it: the next ranked node whose instance still runs.
          const next = vp.ranking.find((n) => !down.has(n));
          reason = `${holder}'s instance is in FAULT (link down); keepalived elects ${next ? `the next ranked node` : 'no node'}`;
          holder = next ?? '';
        }
        const first = side === 'after' && !change.spec ? keepalivedFirst(beforeVips.get(k)?.ranking ?? [], (n) => unhealthy.has(n) || (down?.has(n) ?? false)) : undefined;
        if (first !== undefined && first !== holder) {
          reason += `; keepalived's next backup ${first || 'none'} takes it first, by the priorities the nodes run now, and the coordinator then moves it to ${holder || 'no node'} (it keeps it on ${first || 'no node'} if ${first || 'that node'}'s report of holding it comes first)`;
        }
        const e = out.get(k) ?? { cluster, vip: vp.vip, before: '', after: '', beforeReason: '', afterReason: '' };
        out.set(k, side === 'before' ? { ...e, before: holder, beforeReason: reason } : { ...e, after: holder, afterReason: reason });
      }
    }
  };
  add(before, 'before');
  add(after, 'after');
  if (change.spec) notes.push('placed with the given spec instead of the running one');
  const vips = [...out.values()].sort((a, b) => (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : a.vip < b.vip ? -1 : a.vip > b.vip ? 1 : 0));
  return { vips, notes };
}
