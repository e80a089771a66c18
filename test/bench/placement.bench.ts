// npm run bench:placement — the coordinator's pure decisions at fleet size, in this process:
// placement (`place()`) of 5,000 VIPs over 2,000 nodes and 50,000 VIPs over 10,000 nodes, and the
// spec validation of growing specs (the zod schema with its cross-field rules, the rules alone,
// and the whole check from YAML text) to show whether the cost grows linearly.
//
// Options (flag or environment): --repeats 25 (LBHA_BENCH_PLACEMENT_REPEATS) steady-state
// placements per shape, and validations per size; --sizes 5000,10000,20000,50000
// (LBHA_BENCH_VALIDATION_SIZES) VIPs of the validated specs (two-node clusters of 10 VIPs);
// --yaml-max 20000 (LBHA_BENCH_YAML_MAX) largest size also checked from YAML text (the YAML
// parser is the slow part); --reference also times the previous placement implementation (a
// test fixture) on the same inputs, alternating; --apply-sizes 5000,10000,20000
// (LBHA_BENCH_APPLY_SIZES; "none" skips it) VIPs of the specs applied over a running spec of the
// same size in a worker like the spec worker, the current check and the previous one side by
// side (spec-apply.ts); --out FILE. Times are wall clock and the
// process's CPU time (getrusage), which leaves out waiting for a core on a busy machine. Profile it with `node --cpu-prof` on
// test/dist/bench/placement.bench.js.
import { readFileSync, writeFileSync } from 'node:fs';
import { parse as parseYamlText } from 'yaml';
import { checkSpec, place, specProblems, specSchema, specWarnings, type ClusterSpec, type Spec } from '@lbha/coordinator';
import { referencePlace } from '@lbha/coordinator/placement-reference';

import { hasFlag, intOption, jsonLine, median, stringOption, table } from './bench-stats.js';
import { measured, placementShapes, type PlaceFn } from './placement-shapes.js';
import { pairsSpec } from './scale-spec.js';
import { applyChecks, type ApplyFigures } from './spec-apply.js';

const argv = process.argv.slice(2);
const REPEATS = intOption(argv, '--repeats', 'LBHA_BENCH_PLACEMENT_REPEATS', 25);
const SIZES = stringOption(argv, '--sizes', 'LBHA_BENCH_VALIDATION_SIZES', '5000,10000,20000,50000')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n) && n > 0);
const YAML_MAX = intOption(argv, '--yaml-max', 'LBHA_BENCH_YAML_MAX', 20_000);
const APPLY_SIZES = stringOption(argv, '--apply-sizes', 'LBHA_BENCH_APPLY_SIZES', '5000,10000,20000')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n) && n > 0);
const OUT = stringOption(argv, '--out', 'LBHA_BENCH_OUT', '');
/** Also time the previous implementation (kept as a test fixture), side by side. */
const REFERENCE = hasFlag(argv, '--reference');
/** VIPs per two-node cluster in the validated specs. */
const VIPS_PER_PAIR = 10;

const log = (line: string): void => {
  process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
};

const round = (ms: number): number => Math.round(ms * 10) / 10;

// ------------------------------------------------------------------ placement

// ------------------------------------------------------------------ validation

interface ValidationFigures {
  readonly vips: number;
  readonly nodes: number;
  /** specSchema on the parsed YAML value: structure, defaults and the cross-field rules (CPU ms, median). */
  readonly schemaCpuMs: number;
  /** specProblems alone (the cross-field rules), on the validated Spec. */
  readonly rulesCpuMs: number;
  /** specWarnings alone (what a valid spec risks), on the validated Spec. */
  readonly warningsCpuMs: number;
  /** checkSpec from YAML text (what ValidateSpec runs in its worker), one run; -1 when not run. */
  readonly yamlCpuMs: number;
  readonly yamlBytes: number;
  /** The schema's verdict; over the limits the rules ran on the spec validated in parts. */
  readonly valid: boolean;
  readonly problems: number;
}

/** The raw (YAML-shaped) document of `pairs` two-node clusters, without parsing YAML for each size. */
function rawPairs(pairs: number): { clusters: unknown[] } {
  const one = JSON.stringify((parseYamlText(pairsSpec(2, VIPS_PER_PAIR)) as { clusters: unknown[] }).clusters[0]);
  const clusters: unknown[] = [];
  for (let c = 0; c < pairs; c++) {
    const net = `10.${c >> 8}.${c & 255}.`;
    clusters.push(JSON.parse(one.replaceAll('c0000', `c${String(c).padStart(5, '0')}`).replaceAll('10.1.0.', net)));
  }
  return { clusters };
}

/** The Spec of a document over the size limits, validated 1,000 clusters at a time. */
function inParts(raw: { clusters: unknown[] }): Spec {
  const clusters: ClusterSpec[] = [];
  for (let i = 0; i < raw.clusters.length; i += 1000) {
    const r = specSchema.safeParse({ clusters: raw.clusters.slice(i, i + 1000) });
    if (!r.success) throw new Error(`generated spec is invalid: ${r.error.issues.slice(0, 3).map((x) => x.message).join('; ')}`);
    clusters.push(...r.data.clusters);
  }
  return { clusters };
}

function validationBench(vips: number, runs: number): ValidationFigures {
  const pairs = Math.ceil(vips / VIPS_PER_PAIR);
  const raw = rawPairs(pairs);
  const schemaTimes: number[] = [];
  let result = specSchema.safeParse(raw);
  for (let i = 0; i < runs; i++) schemaTimes.push(measured(() => (result = specSchema.safeParse(raw)))[2]);
  // Over the limit the schema stops before the rules: they run on the spec validated in parts.
  const spec = result.success ? result.data : inParts(raw);
  const rulesTimes: number[] = [];
  let problems = 0;
  for (let i = 0; i < runs; i++) rulesTimes.push(measured(() => (problems = specProblems(spec).length))[2]);
  const warningsTimes: number[] = [];
  for (let i = 0; i < runs; i++) warningsTimes.push(measured(() => specWarnings(spec).length)[2]);
  let yamlCpuMs = -1;
  let yamlBytes = 0;
  if (vips <= YAML_MAX) {
    const text = pairsSpec(pairs * 2, VIPS_PER_PAIR);
    yamlBytes = Buffer.byteLength(text);
    yamlCpuMs = round(measured(() => checkSpec({ yaml: text, current: undefined, wantSpec: false }))[2]);
  }
  return { vips: pairs * VIPS_PER_PAIR, nodes: pairs * 2, schemaCpuMs: median(schemaTimes), rulesCpuMs: median(rulesTimes), warningsCpuMs: median(warningsTimes), yamlCpuMs, yamlBytes, valid: result.success, problems };
}

// ------------------------------------------------------------------ main

function applyTable(applies: readonly ApplyFigures[]): string {
  const previous = (a: ApplyFigures) => applies.find((b) => b.vips === a.vips && b.shape === a.shape && b.impl === 'previous');
  return table(
    ['VIPs', 'shape', 'YAML MB', 'check', 'at start: wall / CPU ms', 'apply over it: wall ms', 'CPU ms', 'previous / current CPU'],
    applies.map((a) => {
      const p = previous(a);
      return [
        a.vips,
        a.shape === 'bench' ? 'bench:scale' : 'a password per VIP',
        round(a.yamlBytes / 1048576),
        a.impl + (a.valid ? '' : ' (invalid!)'),
        `${Math.round(a.loadMs)} / ${Math.round(a.loadCpuMs)}`,
        Math.round(a.applyMs),
        Math.round(a.applyCpuMs),
        a.impl === 'current' && p ? round(p.applyCpuMs / a.applyCpuMs) : '',
      ];
    }),
  );
}

async function main(): Promise<void> {
  const lines: string[] = [];
  const impls: Array<readonly [string, PlaceFn]> = [['current', place]];
  if (REFERENCE) impls.push(['previous', referencePlace]);
  log(`placement: 4 shapes, ${REPEATS} repeats each, ${impls.map(([n]) => n).join(' and ')}`);
  const placements = placementShapes(impls, REPEATS);
  const runs = Math.max(1, Math.min(REPEATS, 5));
  const validations = SIZES.map((n) => {
    log(`validation: ${n} VIPs`);
    return validationBench(n, runs);
  });

  const applies = await applyChecks(APPLY_SIZES, log);

  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const out: string[] = [];
  out.push(`Placement (the pure function; ${REPEATS} repeats, one node's health changed before each; CPU: the process's user and system time); load average at the end ${load}`);
  out.push(
    table(
      ['shape', 'impl', 'nodes', 'VIPs', 'first call ms', 'first CPU ms', 'p50 ms', 'max ms', 'p50 CPU ms'],
      placements.map((p) => [p.shape, p.impl, p.nodes, p.vips, p.coldMs, p.coldCpuMs, p.warmMsP50, p.warmMsMax, p.warmCpuMsP50]),
    ),
  );
  out.push('');
  out.push(`Validation (two-node clusters of ${VIPS_PER_PAIR} VIPs; CPU ms, medians of ${runs} runs; YAML: one run of the whole check)`);
  out.push(
    table(
      ['VIPs', 'nodes', 'valid', 'schema+rules ms', 'µs/VIP', 'rules ms', 'µs/VIP', 'warnings ms', 'µs/VIP', 'YAML check ms', 'YAML MB'],
      validations.map((v) => [
        v.vips,
        v.nodes,
        v.valid ? 'yes' : 'no (limit)',
        v.schemaCpuMs,
        round((v.schemaCpuMs * 1000) / v.vips),
        v.rulesCpuMs,
        round((v.rulesCpuMs * 1000) / v.vips),
        v.warningsCpuMs,
        round((v.warningsCpuMs * 1000) / v.vips),
        v.yamlCpuMs < 0 ? '-' : v.yamlCpuMs,
        v.yamlCpuMs < 0 ? '-' : round(v.yamlBytes / 1048576),
      ]),
    ),
  );
  out.push('');
  if (applies.length > 0) {
    out.push(`Apply: a spec checked over a running spec of the same size (one VRID changed), in a worker with the spec worker's heap; one run each; CPU: the process's`);
    out.push(applyTable(applies));
    out.push('');
  }
  for (const p of placements) {
    lines.push(
      jsonLine({ scenario: 'placement', impl: p.impl, shape: p.shape, nodes: p.nodes, vips: p.vips, repeats: p.repeats, first_ms: p.coldMs, first_cpu_ms: p.coldCpuMs, ms_p50: p.warmMsP50, ms_max: p.warmMsMax, cpu_ms_p50: p.warmCpuMsP50, target_ms: p.vips > 5000 ? 50 : 10 }),
    );
  }
  for (const v of validations) {
    lines.push(
      jsonLine({ scenario: 'validation', vips: v.vips, nodes: v.nodes, valid: v.valid, problems: v.problems, schema_cpu_ms_p50: v.schemaCpuMs, rules_cpu_ms_p50: v.rulesCpuMs, warnings_cpu_ms_p50: v.warningsCpuMs, yaml_cpu_ms: v.yamlCpuMs < 0 ? null : v.yamlCpuMs, yaml_bytes: v.yamlBytes || null }),
    );
  }
  for (const a of applies) {
    lines.push(
      jsonLine({ scenario: 'spec-apply', impl: a.impl, shape: a.shape, vips: a.vips, yaml_bytes: a.yamlBytes, valid: a.valid, changes: a.changes, load_ms: round(a.loadMs), load_cpu_ms: round(a.loadCpuMs), apply_ms: round(a.applyMs), apply_cpu_ms: round(a.applyCpuMs), deadline_ms: 30_000 }),
    );
  }
  process.stdout.write(`${out.join('\n')}\n${lines.join('\n')}\n`);
  if (OUT) writeFileSync(OUT, `${lines.join('\n')}\n`);
}

await main();
