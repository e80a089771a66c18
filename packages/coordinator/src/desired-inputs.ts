// What a cluster's desired states are built from, and whether two passes built them from the
// same. Every pass over a cluster compares; a pass with the same inputs keeps the last states
// (cluster-pass.ts). node's isDeepStrictEqual made that comparison about a tenth of a pass at
// 3,000 agents: it lists the keys of every array and tuple (a native call each) to compare a
// handful of strings, numbers and sets. This compares field by field what the type holds, and
// leaves the deep walk to the parts that are usually the very same objects (the handovers and
// the backend pool), which compare at once.
import { isDeepStrictEqual } from 'node:util';
import type { DesiredBackends, NodeMode } from '@lbha/shared';
import type { HandoverEntry } from './handover-plan.js';
import type { ClusterSpec } from './spec/cluster-spec.js';

/** One node of the spec, in order: class, mode sent, step-downs, last resort, own failure since. */
export type DesiredNodeInputs = readonly [string | undefined, NodeMode, ReadonlySet<string>, boolean, number];

/**
 * What a cluster's desired states are built from, compared structurally with what the previous
 * pass built them from (no text key is built per pass, and the spec and the backend pool are
 * usually the very same objects, which compare at once).
 */
export interface DesiredInputs {
  readonly spec: ClusterSpec;
  readonly anyEligible: boolean;
  readonly rankings: ReadonlyArray<readonly string[]>;
  readonly nodes: ReadonlyArray<DesiredNodeInputs>;
  readonly hold: boolean;
  readonly handovers: ReadonlyMap<string, HandoverEntry>;
  readonly announce: ReadonlyMap<string, { readonly node: string; readonly request: number }>;
  readonly backends: DesiredBackends;
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

function sameNode(a: DesiredNodeInputs, b: DesiredNodeInputs): boolean {
  return a[0] === b[0] && a[1] === b[1] && sameSet(a[2], b[2]) && a[3] === b[3] && Object.is(a[4], b[4]);
}

function sameAnnounce(a: DesiredInputs['announce'], b: DesiredInputs['announce']): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const [vip, x] of a) {
    const y = b.get(vip);
    if (y === undefined || y.node !== x.node || !Object.is(y.request, x.request)) return false;
  }
  return true;
}

/** Whether `a` and `b` hold the same inputs: what isDeepStrictEqual(a, b) says of them, for less. */
export function sameDesiredInputs(a: DesiredInputs, b: DesiredInputs): boolean {
  if (a === b) return true;
  if (a.anyEligible !== b.anyEligible || a.hold !== b.hold) return false;
  if (a.rankings.length !== b.rankings.length || a.nodes.length !== b.nodes.length) return false;
  for (let i = 0; i < a.rankings.length; i++) if (!sameStrings(a.rankings[i] as readonly string[], b.rankings[i] as readonly string[])) return false;
  for (let i = 0; i < a.nodes.length; i++) if (!sameNode(a.nodes[i] as DesiredNodeInputs, b.nodes[i] as DesiredNodeInputs)) return false;
  if (!sameAnnounce(a.announce, b.announce)) return false;
  return (
    (a.spec === b.spec || isDeepStrictEqual(a.spec, b.spec)) &&
    (a.handovers === b.handovers || isDeepStrictEqual(a.handovers, b.handovers)) &&
    (a.backends === b.backends || isDeepStrictEqual(a.backends, b.backends))
  );
}
