// One run of bench:placement's apply check, in a worker thread with the spec worker's heap
// limit (where the check runs in the coordinator): the check of the running spec at start
// ("load"), then the check of a new spec of the same size over it ("apply"), with the current
// checker or with the previous one (rebuilt here from the same pieces), which parsed the running
// spec again and parsed the new text a second time to redact its passwords.
import { parentPort, workerData } from 'node:worker_threads';
import { parseDocument } from 'yaml';
import { checkSpec, diffSpecs, parseSpec, redactSpecYaml, type Spec, type SpecCheckRequest } from '@lbha/coordinator';

export interface ApplyJob {
  readonly impl: 'current' | 'previous';
  readonly running: string;
  readonly next: string;
}

export interface ApplyRun {
  readonly loadMs: number;
  readonly loadCpuMs: number;
  readonly applyMs: number;
  readonly applyCpuMs: number;
  readonly valid: boolean;
  readonly changes: number;
}

let previousCached: { readonly yaml: string; readonly spec: Spec | undefined } | undefined;

/** The check as it was: the running spec parsed whenever its text differed from the last one seen, the text parsed again for redaction. */
function previousCheck(req: SpecCheckRequest): { valid: boolean; changes: number } {
  const r = parseSpec(req.yaml);
  if (!r.ok) return { valid: false, changes: 0 };
  let prev: Spec | undefined;
  if (req.current !== undefined) {
    if (previousCached?.yaml !== req.current) {
      const p = parseSpec(req.current);
      previousCached = { yaml: req.current, spec: p.ok ? p.value : undefined };
    }
    prev = previousCached.spec;
  }
  const changes = diffSpecs(prev, r.value);
  // It parsed again only when the spec held a secret (the bench's specs have no check URLs).
  const secrets = r.value.clusters.some((c) => c.policy.authPass !== '' || c.vips.some((v) => v.authPass));
  if (req.wantSpec && secrets) redactSpecYaml(req.yaml, r.value, parseDocument(req.yaml, { uniqueKeys: false }));
  return { valid: true, changes: changes.length };
}

function currentCheck(req: SpecCheckRequest): { valid: boolean; changes: number } {
  const r = checkSpec(req);
  return { valid: r.valid, changes: r.valid ? r.changes.length : 0 };
}

function timed<T>(fn: () => T): [T, number, number] {
  const c = process.cpuUsage();
  const t = performance.now();
  const r = fn();
  const wall = performance.now() - t;
  const u = process.cpuUsage(c);
  return [r, wall, (u.user + u.system) / 1000];
}

const job = workerData as ApplyJob;
const check = job.impl === 'current' ? currentCheck : previousCheck;
const [, loadMs, loadCpuMs] = timed(() => check({ yaml: job.running, current: undefined, wantSpec: true }));
const [r, applyMs, applyCpuMs] = timed(() => check({ yaml: job.next, current: job.running, wantSpec: true }));
const run: ApplyRun = { loadMs, loadCpuMs, applyMs, applyCpuMs, valid: r.valid, changes: r.changes };
parentPort?.postMessage(run);
