// npm run bench:agent — the footprint of an idle lbha-agent (its real binary, in the lab, with
// real nginx and keepalived) while its checks run at 10 Hz: private memory (Private_Clean +
// Private_Dirty from /proc/PID/smaps_rollup: what the agent costs the machine; most of its RSS
// is the node binary, shared with every other node process), PSS, RSS and CPU share of a core.
// A bare `node` idling in the same run is the reference, and the agent's private memory is
// split by what it is (/proc/PID/smaps).
//
// The lab's spec is applied again with every check at a 100 ms interval (through `lbha spec
// apply`), then both agents are sampled from /proc. CPU is given for the agent process alone and
// with its helper children (reaped ones such as `ip`, live ones such as `ip monitor`); the
// daemons it supervises (nginx, keepalived) are not counted.
//
// Options: --seconds N (LBHA_BENCH_SECONDS, default 60) at 10 Hz; --default-seconds N
// (LBHA_BENCH_DEFAULT_SECONDS, 20) first with the lab's own spec, 0 skips it; --node-flags
// "FLAGS" (LBHA_BENCH_NODE_FLAGS): after the 10 Hz window, the agents are restarted with these
// node/V8 flags instead of the ones they ship with (AGENT_NODE_FLAGS) and measured again at
// 10 Hz, in the same run; "none" for no flags at all. --churn-seconds N (LBHA_BENCH_CHURN_SECONDS,
// 20; 0 skips it): last, with checks still at 10 Hz, lb1's maintenance file is created and
// removed every second, so its check flips, its priority drops and rises and the VIPs move back
// and forth (check churn: track files, keepalived transitions, deltas, logs); peak memory of that
// window is the figure. --gc-pauses (LBHA_BENCH_GC_PAUSES=1): the agents are restarted at once
// with a probe (gc-probe.ts) that records every collection V8 reports, and each window also gives
// the pauses: scavenges, full collections and the agent's own forced ones, per minute, their
// p99 and longest (the probe's module and observer add a little memory to those runs' figures).
// --out FILE.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AGENT_NODE_FLAGS } from '@lbha/agent';
import { sleep, waitFor } from '@lbha/test-support';
import { LB_NODES, labUnavailableReason, startLab, type Lab, type LbNode } from '../lab/index.js';
import { distribution, hasFlag, intOption, jsonLine, stringOption, table } from './bench-stats.js';
import type { GcEntry } from './gc-probe.js';
import { MB, memoryRollup, privateBreakdown, ProcessSampler, treeCpuSeconds } from './process-sampler.js';

const argv = process.argv.slice(2);
const SECONDS = intOption(argv, '--seconds', 'LBHA_BENCH_SECONDS', 60);
/** First, the lab's own spec (slower checks) for this long; 0 skips it. */
const DEFAULT_SECONDS = intOption(argv, '--default-seconds', 'LBHA_BENCH_DEFAULT_SECONDS', 20);
const OUT = stringOption(argv, '--out', 'LBHA_BENCH_OUT', '');
const NODE_FLAGS_OPTION = stringOption(argv, '--node-flags', 'LBHA_BENCH_NODE_FLAGS', '');
const NODE_FLAGS = NODE_FLAGS_OPTION.split(' ').filter((f) => f !== '' && f !== 'none');
const CHURN_SECONDS = intOption(argv, '--churn-seconds', 'LBHA_BENCH_CHURN_SECONDS', 20);
const GC_PAUSES = hasFlag(argv, '--gc-pauses') || process.env['LBHA_BENCH_GC_PAUSES'] === '1';
const GC_PROBE = fileURLToPath(new URL('./gc-probe.js', import.meta.url));
const CHURN_FLIP_MS = 1000;
const CHECK_INTERVAL = '100ms';
const DAEMONS = ['nginx', 'keepalived'];

const log = (line: string): void => {
  process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
};

/** The lab's spec with every check at 10 Hz (an http timeout below the interval). */
export function tenHertzSpec(spec: string): string {
  return spec
    .split('\n')
    .map((line) => {
      if (!/^\s+- \{ name: .*kind: /.test(line)) return line;
      let out = /interval: [^,}]+/.test(line) ? line.replace(/interval: [^,}]+/, `interval: ${CHECK_INTERVAL}`) : line.replace(/kind: (\w+),/, `kind: $1, interval: ${CHECK_INTERVAL},`);
      out = out.replace(/timeout: [^,}]+/, 'timeout: 90ms');
      return out;
    })
    .join('\n');
}

let current: Lab | undefined;

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void (current?.down() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

interface AgentFigures {
  readonly phase: string;
  readonly node: LbNode;
  readonly seconds: number;
  readonly flags: string;
  readonly rssMaxMb: number;
  readonly rssLastMb: number;
  readonly privateMaxMb: number;
  readonly privateLastMb: number;
  readonly pssLastMb: number;
  readonly breakdown: Record<string, number>;
  readonly cpuPercent: number;
  readonly cpuPercentWithChildren: number;
  readonly gc: GcFigures | undefined;
}

interface GcPauses {
  readonly count: number;
  readonly perMinute: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly totalMs: number;
}

/** The pauses of one window, all together and by kind (`forced`: the agent's own full collections). */
interface GcFigures {
  readonly all: GcPauses;
  readonly minor: GcPauses;
  readonly major: GcPauses;
  readonly forced: GcPauses;
}

function gcPauses(entries: readonly GcEntry[], seconds: number): GcPauses {
  const ms = entries.map((e) => e.ms);
  const d = distribution(ms);
  const r = (v: number): number => Math.round(v * 100) / 100;
  return { count: ms.length, perMinute: r((ms.length / seconds) * 60), p99Ms: ms.length ? d.p99 : 0, maxMs: ms.length ? r(Math.max(...ms)) : 0, totalMs: r(ms.reduce((a, b) => a + b, 0)) };
}

/** The collections the probe recorded for `pid` between two times (ms since the epoch). */
function gcFigures(dir: string, pid: number, fromMs: number, toMs: number): GcFigures | undefined {
  const file = join(dir, `${pid}.jsonl`);
  if (!existsSync(file)) return undefined;
  const entries = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as GcEntry)
    .filter((e) => e.at >= fromMs && e.at < toMs);
  const seconds = (toMs - fromMs) / 1000;
  return {
    all: gcPauses(entries, seconds),
    minor: gcPauses(entries.filter((e) => e.kind === 'minor'), seconds),
    major: gcPauses(entries.filter((e) => e.kind === 'major' && !e.forced), seconds),
    forced: gcPauses(entries.filter((e) => e.forced), seconds),
  };
}

async function main(): Promise<void> {
  const reason = labUnavailableReason();
  if (reason !== undefined) {
    process.stderr.write(`bench:agent: ${reason}\n`);
    process.exit(2);
  }
  log('starting the lab (topology a, control agent)');
  const lab = await startLab({ topology: 'a', control: 'agent', log });
  current = lab;
  const figures: AgentFigures[] = [];
  // The reference: a bare node doing nothing, measured in the same run.
  const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  let bareMemory: { privateMb: number; pssMb: number; rssMb: number } | undefined;
  try {
    const agents = lab.agents;
    if (agents === undefined) throw new Error('the lab has no agents');
    let pids: number[] = [];
    const findPids = (): void => {
      pids = LB_NODES.map((n) => {
        const pid = agents.agentProcess(n)?.pid;
        if (pid === undefined || pid < 0) throw new Error(`no agent process on ${n}`);
        return pid;
      });
    };
    findPids();
    let flags = AGENT_NODE_FLAGS.join(' ') || 'none';
    const gcDir = join(lab.runDir, 'gc-probe');
    const withProbe = (f: readonly string[]): string[] => (GC_PAUSES ? [...f, `--import=${GC_PROBE}`] : [...f]);
    if (GC_PAUSES) {
      mkdirSync(gcDir, { recursive: true });
      process.env['LBHA_GC_PROBE_DIR'] = gcDir;
      log('restarting both agents with the GC probe');
      for (const n of LB_NODES) {
        await agents.stopAgent(n, 'SIGTERM');
        await agents.startAgent(n, withProbe(AGENT_NODE_FLAGS));
      }
      findPids();
      await agents.waitForAgentsConnected({ timeoutMs: 30_000 });
      flags = `${flags} (+ GC probe)`;
    }
    const mb = (b: number): number => Math.round((b / MB) * 10) / 10;
    const measure = async (phase: string, seconds: number, during?: (until: number) => Promise<void>): Promise<void> => {
      // Let start-up work (render, reload, first check runs) pass before measuring the idle state.
      if (!during) await sleep(5000);
      log(`${phase}: sampling agents ${LB_NODES.map((n, i) => `${n} (pid ${pids[i]})`).join(', ')} for ${seconds} s`);
      const samplers = pids.map((pid) => new ProcessSampler(pid, 1000));
      const treeStart = pids.map((pid) => treeCpuSeconds(pid, DAEMONS) ?? 0);
      const t0 = performance.now();
      const epoch0 = Date.now();
      await (during ? during(t0 + seconds * 1000) : sleep(seconds * 1000));
      const elapsed = (performance.now() - t0) / 1000;
      const epoch1 = Date.now();
      const treeEnd = pids.map((pid) => treeCpuSeconds(pid, DAEMONS) ?? 0);
      // The probe writes once a second.
      if (GC_PAUSES) await sleep(1500);
      LB_NODES.forEach((node, i) => {
        const u = (samplers[i] as ProcessSampler).stop();
        const breakdown = Object.fromEntries(Object.entries(privateBreakdown(pids[i] as number) ?? {}).map(([k, v]) => [k, mb(v)]));
        figures.push({
          phase,
          node,
          seconds: Math.round(u.seconds),
          flags,
          rssMaxMb: mb(u.rssMaxBytes),
          rssLastMb: mb(u.rssLastBytes),
          privateMaxMb: mb(u.privateMaxBytes),
          privateLastMb: mb(u.privateLastBytes),
          pssLastMb: mb(u.pssLastBytes),
          breakdown,
          cpuPercent: Math.round(u.cpuPercent * 100) / 100,
          cpuPercentWithChildren: Math.round((((treeEnd[i] ?? 0) - (treeStart[i] ?? 0)) / elapsed) * 100 * 100) / 100,
          gc: GC_PAUSES ? gcFigures(gcDir, pids[i] as number, epoch0, epoch1) : undefined,
        });
      });
    };
    if (DEFAULT_SECONDS > 0) await measure('lab spec (checks every 200 ms to 1 s)', DEFAULT_SECONDS);
    const specFile = join(lab.runDir, 'bench-spec-10hz.yaml');
    writeFileSync(specFile, tenHertzSpec(readFileSync(agents.specFile, 'utf8')));
    const before = await agents.api.listNodes();
    const applied = await agents.cli(['spec', 'apply', specFile, '--reason', 'benchmark: checks at 10 Hz']);
    if (applied.code !== 0) throw new Error(`lbha spec apply: ${(applied.stderr || applied.stdout).trim()}`);
    await waitFor('both agents to apply the 10 Hz spec', async () => {
      const nodes = await agents.api.listNodes();
      const done = LB_NODES.every((n) => {
        const now = nodes.find((x) => x.name === n);
        const was = before.find((x) => x.name === n);
        return now !== undefined && now.appliedVersion > (was?.appliedVersion ?? 0) && now.appliedVersion === now.desiredVersion && now.healthy;
      });
      return done ? { done: true, value: undefined } : { done: false, observed: nodes.map((n) => `${n.name} ${n.appliedVersion}/${n.desiredVersion} healthy ${n.healthy}`).join(', ') };
    }, { timeoutMs: 30_000, intervalMs: 200 });
    await measure(`checks every ${CHECK_INTERVAL}`, SECONDS);
    const b = memoryRollup(bare.pid ?? -1);
    if (b) bareMemory = { privateMb: mb(b.privateBytes), pssMb: mb(b.pssBytes), rssMb: mb(b.rssBytes) };
    if (NODE_FLAGS_OPTION !== '') {
      flags = `${NODE_FLAGS.join(' ') || 'none'}${GC_PAUSES ? ' (+ GC probe)' : ''}`;
      log(`restarting both agents with ${flags}`);
      for (const n of LB_NODES) {
        await agents.stopAgent(n, 'SIGTERM');
        await agents.startAgent(n, withProbe(NODE_FLAGS));
      }
      findPids();
      await agents.waitForAgentsConnected({ timeoutMs: 30_000 });
      await measure(`checks every ${CHECK_INTERVAL}`, SECONDS);
    }
    if (CHURN_SECONDS > 0) {
      await measure(`check churn (${CHURN_FLIP_MS} ms flips)`, CHURN_SECONDS, async (until) => {
        let on = false;
        while (performance.now() < until) {
          on = !on;
          lab.setMaintenance('lb1', on);
          await sleep(Math.min(CHURN_FLIP_MS, Math.max(0, until - performance.now())));
        }
        lab.setMaintenance('lb1', false);
      });
    }
    const nodes = await agents.api.listNodes();
    for (const n of nodes) if (!n.healthy) log(`note: ${n.name} reported unhealthy at the end of the window`);
  } finally {
    bare.kill();
    current = undefined;
    await lab.down();
  }
  const out: string[] = [];
  out.push('Idle lbha-agent in the lab (nginx and keepalived running; checks: process, http, maintenance file, interface)');
  out.push(
    table(
      ['phase', 'node flags', 'node', 'seconds', 'private MB end', 'private max', 'PSS end', 'RSS max MB', 'RSS end MB', 'CPU % core', 'with helpers %'],
      figures.map((f) => [
        f.phase,
        f.flags,
        f.node,
        f.seconds,
        f.privateLastMb,
        f.privateMaxMb,
        f.pssLastMb,
        f.rssMaxMb,
        f.rssLastMb,
        f.cpuPercent.toFixed(2),
        f.cpuPercentWithChildren.toFixed(2),
      ]),
    ),
  );
  if (bareMemory) out.push(`Reference, a bare node idling in the same run: private ${bareMemory.privateMb} MB, PSS ${bareMemory.pssMb} MB, RSS ${bareMemory.rssMb} MB`);
  out.push('', 'Private memory by kind at the end of each window (MB)');
  const kinds = [...new Set(figures.flatMap((f) => Object.keys(f.breakdown)))].sort();
  out.push(table(['phase', 'node flags', 'node', ...kinds], figures.map((f) => [f.phase, f.flags, f.node, ...kinds.map((k) => f.breakdown[k] ?? 0)])));
  if (GC_PAUSES) {
    out.push('', 'Collections, each a pause of the main thread (--single-threaded-gc): per minute, p99 and longest (ms); forced: the agent\'s own full collections');
    const g = (p: GcPauses | undefined): string => (p ? `${p.perMinute} / ${p.p99Ms} / ${p.maxMs}` : '-');
    out.push(table(['phase', 'node', 'all: per min / p99 / max', 'scavenges', 'full (V8)', 'full (forced)', 'ms paused in all'], figures.map((f) => [f.phase, f.node, g(f.gc?.all), g(f.gc?.minor), g(f.gc?.major), g(f.gc?.forced), f.gc?.all.totalMs ?? '-'])));
  }
  out.push('');
  const lines = figures.map((f) =>
    jsonLine({
      scenario: f.phase.startsWith('checks every') ? 'agent-idle-10hz' : f.phase.startsWith('check churn') ? 'agent-check-churn-10hz' : 'agent-idle-lab-spec',
      node: f.node,
      seconds: f.seconds,
      check_interval_ms: f.phase.startsWith('checks every') || f.phase.startsWith('check churn') ? 100 : null,
      node_flags: f.flags,
      private_mb_end: f.privateLastMb,
      private_mb_max: f.privateMaxMb,
      pss_mb_end: f.pssLastMb,
      private_mb_by_kind: f.breakdown,
      rss_mb_max: f.rssMaxMb,
      rss_mb_end: f.rssLastMb,
      bare_node: bareMemory ?? null,
      cpu_percent_core: f.cpuPercent,
      cpu_percent_core_with_helpers: f.cpuPercentWithChildren,
      ...(f.gc ? { gc_pauses: f.gc } : {}),
      target_private_mb: 12,
      target_rss_mb_peak: 50,
      target_cpu_percent_core: 1,
    }),
  );
  out.push(...lines);
  process.stdout.write(`${out.join('\n')}\n`);
  if (OUT !== '') writeFileSync(OUT, `${lines.join('\n')}\n`);
}

main().catch(async (error: unknown) => {
  process.stderr.write(`bench:agent failed: ${(error as Error).stack ?? String(error)}\n`);
  await current?.down().catch(() => undefined);
  process.exit(1);
});
