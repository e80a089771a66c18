// bench:placement's apply figures: what the spec worker does when a spec of N VIPs is applied
// over a running spec of the same size, with the current check and the previous one side by
// side (alternating which goes first), each run in a fresh worker thread with the spec
// worker's heap limit, since the garbage collection near that limit is much of the cost.
import { Worker } from 'node:worker_threads';
import { SPEC_WORKER_HEAP_MB } from '@lbha/coordinator';
import { pairsSpec } from './scale-spec.js';
import type { ApplyJob, ApplyRun } from './spec-apply-worker.js';

const WORKER_URL = new URL('./spec-apply-worker.js', import.meta.url);

export type ApplyShape = 'bench' | 'passwords';

export interface ApplyFigures extends ApplyRun {
  readonly vips: number;
  readonly shape: ApplyShape;
  readonly impl: ApplyJob['impl'];
  readonly yamlBytes: number;
}

/**
 * Two-node clusters of 10 VIPs (bench:scale's shape); with `passwords`, VRRP version 2 and a
 * password per VIP, which the check redacts for readers.
 */
function specOf(vips: number, shape: ApplyShape): string {
  const text = pairsSpec(Math.ceil(vips / 10) * 2, 10);
  if (shape === 'bench') return text;
  let n = 0;
  return text.replaceAll('advert_interval: 100ms', 'advert_interval: 1s, vrrp_version: 2').replace(/vrid: \d+/g, (m) => `${m}, auth_pass: p${String(n++).padStart(7, '0')}`);
}

function runOne(job: ApplyJob): Promise<ApplyRun> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER_URL, { workerData: job, resourceLimits: { maxOldGenerationSizeMb: SPEC_WORKER_HEAP_MB } });
    w.once('message', (m: ApplyRun) => resolve(m));
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`apply bench worker exited with code ${code}`)));
  });
}

/** For each size and shape, the previous and the current check, one run each. */
export async function applyChecks(sizes: readonly number[], log: (line: string) => void): Promise<ApplyFigures[]> {
  const out: ApplyFigures[] = [];
  let turn = 0;
  for (const vips of sizes) {
    for (const shape of ['bench', 'passwords'] as const) {
      const running = specOf(vips, shape);
      // One VIP moved to another VRID: a small change, as most applies are.
      const next = running.replace('vrid: 51', 'vrid: 71');
      const impls: Array<ApplyJob['impl']> = turn++ % 2 === 0 ? ['previous', 'current'] : ['current', 'previous'];
      for (const impl of impls) {
        log(`apply check: ${vips} VIPs, ${shape}, ${impl}`);
        const r = await runOne({ impl, running, next });
        out.push({ ...r, vips, shape, impl, yamlBytes: Buffer.byteLength(running) });
      }
    }
  }
  return out;
}
