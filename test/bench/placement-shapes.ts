// The placement scenarios of the benchmarks (bench:placement, bench:scale): four fleet shapes,
// each placed from scratch and then in steady state, timed in wall clock and in CPU time.
import { parse as parseYamlText } from 'yaml';
import { specSchema, type ClusterSpec, type NodeCondition, type Placement, type PlacementInput, type Spec } from '@lbha/coordinator';

import { distribution, median } from './bench-stats.js';
import { clustersSpec, pairsSpec } from './scale-spec.js';

const round = (ms: number): number => Math.round(ms * 10) / 10;

export type PlaceFn = (input: PlacementInput) => Placement;

export interface PlacementFigures {
  readonly shape: string;
  readonly impl: string;
  readonly nodes: number;
  readonly vips: number;
  readonly repeats: number;
  /** The first placement over a new spec object (its layout is derived then), after one over another copy: wall and CPU ms. */
  readonly coldMs: number;
  readonly coldCpuMs: number;
  /** Steady state: every VIP held, one node's health changed before each placement. */
  readonly warmMsP50: number;
  readonly warmMsMax: number;
  readonly warmCpuMsP50: number;
}

/**
 * CPU time of this process in ms (user and system, every thread: the garbage collector's helpers
 * work for the placement too), so that figures taken on a busy machine leave out the time spent
 * waiting for a core. getrusage is exact; the schedstat of the thread is only brought up to date
 * at the scheduler's ticks (4 ms here), too coarse for calls of a few milliseconds.
 */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export function measured<T>(fn: () => T): [T, number, number] {
  const c = cpuMs();
  const t = performance.now();
  const r = fn();
  const wall = performance.now() - t;
  return [r, wall, cpuMs() - c];
}

export function parsed(yaml: string): Spec {
  const r = specSchema.safeParse(parseYamlText(yaml));
  if (!r.success) throw new Error(`generated spec is invalid: ${r.error.issues.slice(0, 3).map((i) => i.message).join('; ')}`);
  return r.data;
}

/**
 * `clusters` copies of the first cluster of `template`, renamed (nodes, VIPs and homes
 * included). Building a spec of 50,000 VIPs this way takes a fraction of a second, where its YAML
 * would take many seconds to parse; placement is measured on the spec object alone.
 */
export function replicated(template: Spec, clusters: number): Spec {
  const one = JSON.stringify(template.clusters[0]);
  const out: ClusterSpec[] = [];
  for (let c = 0; c < clusters; c++) out.push(JSON.parse(one.replaceAll('c0000', `c${String(c).padStart(5, '0')}`)) as ClusterSpec);
  return { ...template, clusters: out };
}

/**
 * One shape: a first placement over a fresh copy of the spec (nothing held), then `repeats`
 * placements in steady state. With several implementations, each repeat runs them one after
 * the other on the same input (alternating which goes first), so they share the machine's load.
 */
export function placementBench(shape: string, makeSpec: () => Spec, impls: ReadonlyArray<readonly [string, PlaceFn]>, repeats: number): PlacementFigures[] {
  const specs = impls.map(() => makeSpec());
  const spec0 = specs[0] as Spec;
  const conditions = new Map<string, NodeCondition>();
  let vips = 0;
  for (const c of spec0.clusters) {
    vips += c.vips.length;
    for (const n of c.nodes) conditions.set(n.name, { health: 'healthy', penalty: 0, mode: 'active', healthySinceMs: 0 });
  }
  // A first placement over another copy of the spec, not timed: the one timed is then what a
  // running coordinator does with a new spec (its code compiled), not the process's first call.
  for (const [, fn] of impls) fn({ spec: makeSpec(), nodes: conditions, holders: new Map(), nowMs: 0 });
  const cold = impls.map(([, fn], k) => measured(() => fn({ spec: specs[k] as Spec, nodes: conditions, holders: new Map(), nowMs: 0 })));
  const first = (cold[0] as [Placement, number, number])[0];
  let placed = 0;
  for (const cp of first.clusters.values()) placed += cp.vips.filter((v) => v.holder !== '').length;
  if (placed !== vips) throw new Error(`placement placed ${placed} of ${vips} VIPs`);
  // Steady state: every VIP has a holder; one node flips health per placement.
  const holders = new Map<string, string>();
  for (const cp of first.clusters.values()) for (const v of cp.vips) holders.set(`${v.cluster}/${v.vip}`, v.holder);
  const names = [...conditions.keys()];
  const wall: number[][] = impls.map(() => []);
  const cpu: number[][] = impls.map(() => []);
  for (let i = 0; i < repeats; i++) {
    const name = names[(i * 7919) % names.length] as string;
    const before = conditions.get(name) as NodeCondition;
    conditions.set(name, { ...before, health: before.health === 'healthy' ? 'unhealthy' : 'healthy' });
    for (let j = 0; j < impls.length; j++) {
      const k = (i + j) % impls.length;
      const [, w, c] = measured(() => (impls[k] as readonly [string, PlaceFn])[1]({ spec: specs[k] as Spec, nodes: conditions, holders, nowMs: i }));
      (wall[k] as number[]).push(w);
      (cpu[k] as number[]).push(c);
    }
  }
  return impls.map(([impl], k) => {
    const d = distribution(wall[k] as number[]);
    const [, coldWall, coldCpu] = cold[k] as [Placement, number, number];
    return { shape, impl, nodes: conditions.size, vips, repeats, coldMs: round(coldWall), coldCpuMs: round(coldCpu), warmMsP50: d.p50, warmMsMax: d.max, warmCpuMsP50: median(cpu[k] as number[]) };
  });
}

/** The four shapes: 5,000 VIPs over 2,000 nodes and 50,000 over 10,000, with and without homes. */
export function placementShapes(impls: ReadonlyArray<readonly [string, PlaceFn]>, repeats: number): PlacementFigures[] {
  const pairs5 = parsed(pairsSpec(2000, 5));
  const twenty50 = parsed(clustersSpec(2000, 20, 50, false));
  const pairs10 = parsed(pairsSpec(2, 10));
  const twenty100 = parsed(clustersSpec(20, 20, 100, false));
  // A fresh copy per implementation: each derives its own layout on its first call.
  return [
    ...placementBench('1,000 clusters of 2 nodes, 5 VIPs each', () => JSON.parse(JSON.stringify(pairs5)) as Spec, impls, repeats),
    ...placementBench('100 clusters of 20 nodes, 50 VIPs each, no homes', () => JSON.parse(JSON.stringify(twenty50)) as Spec, impls, repeats),
    ...placementBench('5,000 clusters of 2 nodes, 10 VIPs each', () => replicated(pairs10, 5000), impls, repeats),
    ...placementBench('500 clusters of 20 nodes, 100 VIPs each, no homes', () => replicated(twenty100, 500), impls, repeats),
  ];
}

