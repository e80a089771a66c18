// /metrics at scale: a registry of 2,000 agents (1,000 two-node clusters, two VIPs each, three
// checks and two services per node); prints render time and size. Not a test: timings on a
// shared machine are noisy, so nothing is asserted here.
//   node packages/coordinator/dist/test/bench/metrics-render.js [clusters=1000] [runs=20]
import { gzipSync } from 'node:zlib';
import { performance } from 'node:perf_hooks';
import { CoordinatorMetrics } from '../../src/metrics/coordinator-metrics.js';
import { buildFleet } from '../support/fake-fleet.js';

const clusters = Number(process.argv[2] ?? 1000);
const runs = Number(process.argv[3] ?? 20);
const fleet = buildFleet(clusters);
const metrics = new CoordinatorMetrics({ registry: fleet.registry, placementView: () => fleet.placement });

/** Every node's report replaced by a new one, as if every agent had sent a delta since the last scrape. */
function churn(): void {
  for (const rec of fleet.registry.list()) {
    if (rec.snapshot && rec.session) fleet.registry.setSnapshot(rec.name, rec.session.id, { ...rec.snapshot });
  }
}

async function measure(label: string, before: () => void): Promise<string> {
  const times: number[] = [];
  const cpu: number[] = [];
  let body = '';
  for (let i = 0; i < runs; i++) {
    before();
    const c = process.cpuUsage();
    const t = performance.now();
    body = (await metrics.render()).body;
    times.push(performance.now() - t);
    const used = process.cpuUsage(c);
    cpu.push((used.user + used.system) / 1000);
  }
  cpu.sort((a, b) => a - b);
  const first = (times[0] as number).toFixed(1);
  times.sort((a, b) => a - b);
  const q = (p: number) => (times[Math.min(times.length - 1, Math.floor(p * times.length))] as number).toFixed(1);
  const cpuP50 = (cpu[Math.floor(cpu.length / 2)] as number).toFixed(1);
  // CPU time (all threads, GC included) is less at the mercy of other processes than wall time.
  process.stdout.write(`  ${label}: first ${first} ms; min ${q(0)}, p50 ${q(0.5)}, p95 ${q(0.95)}, max ${q(1)} ms over ${runs} renders; CPU p50 ${cpuP50} ms\n`);
  return body;
}

process.stdout.write(`/metrics with ${fleet.nodes} nodes in ${clusters} clusters, ${clusters * 2} VIPs\n`);
const body = await measure('reports unchanged between scrapes', () => undefined);
await measure('every report changed between scrapes', churn);
metrics.close();
const samples = body.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
process.stdout.write(`  size: ${samples} samples, ${(body.length / 1e6).toFixed(2)} MB, ${(gzipSync(body).length / 1e3).toFixed(0)} kB gzipped\n`);
