// The safety interlock: would taking a node out of service leave a VIP without a healthy
// holder? Answered by running placement as if the node were draining. Pure.
import { classify, place, UNKNOWN_NODE, type NodeCondition } from './placement.js';
import type { Spec } from './spec/cluster-spec.js';

export interface InterlockInput {
  readonly spec: Spec;
  readonly nodes: ReadonlyMap<string, NodeCondition>;
  readonly holders: ReadonlyMap<string, string>;
  readonly nowMs: number;
  /** vipKey -> nodes whose proxy would not serve the VIP (standby readiness). */
  readonly notReady?: ReadonlyMap<string, ReadonlySet<string>>;
}

/**
 * Why taking `nodes` out of service is unsafe; empty when it is safe. Refuses when the
 * cluster has a healthy active node now and would have none afterwards.
 */
export function interlockProblems(input: InterlockInput, nodes: readonly string[]): string[] {
  const out: string[] = [];
  const changed = new Map(input.nodes);
  for (const n of nodes) changed.set(n, { ...(input.nodes.get(n) ?? UNKNOWN_NODE), mode: 'draining' });
  const before = place(input);
  const after = place({ ...input, nodes: changed });
  for (const c of input.spec.clusters) {
    const b = before.clusters.get(c.name);
    const a = after.clusters.get(c.name);
    if (!b || !a || c.vips.length === 0 || !b.anyEligible || a.anyEligible) continue;
    const others = c.nodes
      .filter((n) => !nodes.includes(n.name))
      .map((n) => `${n.name} is ${describe(changed.get(n.name) ?? UNKNOWN_NODE)}`);
    out.push(
      `${nodes.join(', ')} ${nodes.length === 1 ? 'is' : 'are'} the last healthy active node${nodes.length === 1 ? '' : 's'} of cluster ${c.name}: ` +
        `taking ${nodes.length === 1 ? 'it' : 'them'} out would leave ${c.vips.map((v) => v.name).join(', ')} without a healthy holder` +
        (others.length > 0 ? ` (${others.join(', ')})` : ''),
    );
  }
  return out;
}

function describe(c: NodeCondition): string {
  switch (classify(c)) {
    case 'unhealthy':
      return 'unhealthy';
    case 'unknown':
    case 'unreachable':
      return 'not connected';
    case 'standby':
      return c.mode;
    default:
      return 'healthy';
  }
}
