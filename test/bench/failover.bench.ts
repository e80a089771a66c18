// npm run bench:failover — what a client sees when a load-balancer node breaks, under lbha and
// under the seed's own keepalived configuration, on the same network-namespace lab.
//
// A probe in the client namespace requests the VIP every 10 ms on a fresh connection, and a
// sequential client sends each request after the previous one (for the inner link and keepalived
// faults also a kept-alive client that does not retry: wrk, 8 connections). Each run
// breaks the VIP's holder (lb1) once, waits until the peer (lb2) serves, stops the probe and
// records the longest gap between successful responses and the failed requests; then repairs
// the node and waits until the VIP is home and the probe is clean before the next run.
//
// Options (flag or environment): --runs N (LBHA_BENCH_RUNS, default 10) proxy-death runs under
// lbha; --baseline-runs N (LBHA_BENCH_BASELINE_RUNS, 5) seed runs; --other-runs N
// (LBHA_BENCH_OTHER_RUNS, 5) runs of the other unplanned scenarios; --planned-runs N
// (LBHA_BENCH_PLANNED_RUNS, 3); --baseline-hung-runs N (LBHA_BENCH_BASELINE_HUNG_RUNS, 1) seed
// runs of the hung proxy, watched for 20 s each; --only a,b (LBHA_BENCH_ONLY) scenario names; --out FILE also
// writes the JSON lines there. Progress goes to stderr; the table and JSON lines to stdout.
import { writeFileSync } from 'node:fs';
import { sleep, waitFor } from '@lbha/test-support';
import { LB_NODES, describeFigures, labUnavailableReason, startLab, summarizeProbe, type Lab, type ProbeRecord, type WrkResult } from '../lab/index.js';
import { HOLDER, KEPT_ALIVE, OBSERVE_MS, SCENARIOS, VIP, unplannedRun, waitForServedBy, type RunResult, type Scenario } from './failover-scenarios.js';
import { distribution, intOption, jsonLine, stringOption, table } from './bench-stats.js';

type System = 'lbha' | 'lbha fast' | 'seed';

/** Planned runs: what one drain-restart-undrain cost the probe. */
interface PlannedResult {
  readonly outageMs: number;
  readonly failed: number;
  readonly requests: number;
  readonly p99Ms: number;
  readonly operationMs: number;
  readonly errorKinds: string;
  /** How long each CLI command took, e.g. "drain 1200, restart 900, undrain 300". */
  readonly steps: string;
  /** The VIP did not serve from home again within HOME_TIMEOUT_MS of the undrain. */
  readonly notHome: boolean;
  /** Per planned move, from handover.started to vip.moved (the cost of preparing the handover plus VRRP). */
  readonly moveMs: readonly number[];
}

interface ScenarioResult {
  readonly scenario: string;
  readonly system: System;
  readonly what: string;
  readonly runs: RunResult[];
  readonly errors: string[];
  /** Repairs after which the VIP did not come home by itself within HOME_TIMEOUT_MS. */
  stuck: number;
  /** Set when each run watched the clients for a fixed window after the fault. */
  readonly observeMs?: number;
}

/** How long the VIP may take to come home after a repair before the run counts as stuck. */
const HOME_TIMEOUT_MS = 12_000;

const argv = process.argv.slice(2);
const RUNS = intOption(argv, '--runs', 'LBHA_BENCH_RUNS', 10);
const FAST_RUNS = intOption(argv, '--fast-runs', 'LBHA_BENCH_FAST_RUNS', 10);
const BASELINE_RUNS = intOption(argv, '--baseline-runs', 'LBHA_BENCH_BASELINE_RUNS', 3);
const BASELINE_HUNG_RUNS = intOption(argv, '--baseline-hung-runs', 'LBHA_BENCH_BASELINE_HUNG_RUNS', 1);
const PLANNED_RUNS = intOption(argv, '--planned-runs', 'LBHA_BENCH_PLANNED_RUNS', 3);
const ONLY = stringOption(argv, '--only', 'LBHA_BENCH_ONLY', '')
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '');
const OUT = stringOption(argv, '--out', 'LBHA_BENCH_OUT', '');


const log = (line: string): void => {
  process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
};

const wanted = (name: string): boolean => ONLY.length === 0 || ONLY.includes(name);

// ------------------------------------------------------------------ waiting

/** The VIP answers through its home node, every request of a short burst succeeds. */
async function waitForCleanProbe(lab: Lab, timeoutMs = 60_000): Promise<void> {
  await waitFor(`requests to ${VIP} to be clean through ${HOLDER}`, async () => {
    const records = await lab.request(VIP, 20, { intervalMs: 10, timeoutMs: 500 });
    const bad = records.filter((r) => !r.ok || r.lb !== HOLDER);
    return bad.length === 0 ? { done: true, value: undefined } : { done: false, observed: `${bad.length} of 20 not ok through ${HOLDER}` };
  }, { timeoutMs, intervalMs: 500 });
}

/** Everything home and healthy (interfaces, and with lbha the coordinator's view), probe clean. */
async function waitForHome(lab: Lab, timeoutMs = 60_000): Promise<void> {
  for (const vip of lab.plan.vips) await lab.waitForHolder(vip.name, vip.home, { timeoutMs });
  const agents = lab.agents;
  if (agents !== undefined) {
    await agents.waitForAgentsConnected({ timeoutMs });
    await waitFor('both nodes healthy and active at the coordinator', async () => {
      let nodes;
      try {
        nodes = await agents.api.listNodes();
      } catch (error) {
        return { done: false, observed: (error as Error).message };
      }
      const ready = nodes.filter((n) => n.connected && n.healthy);
      return LB_NODES.every((n) => ready.some((r) => r.name === n))
        ? { done: true, value: undefined }
        : { done: false, observed: nodes.map((n) => `${n.name}: connected ${n.connected} healthy ${n.healthy}`).join(', ') };
    }, { timeoutMs, intervalMs: 100 });
    for (const vip of lab.plan.vips) await agents.waitForReportedHolder(vip.name, vip.home, { timeoutMs });
  }
  await waitForCleanProbe(lab, timeoutMs);
}

/**
 * Waits for the VIPs to be home after a repair. When they do not come by themselves, the run
 * counts as stuck and the nodes are repaired harder (with lbha: the agents are restarted, which
 * leaves the daemons running), so that the next run starts from the same place.
 */
async function ensureHome(lab: Lab, result: ScenarioResult): Promise<void> {
  // The seed's keepalived (advert_int 3) takes several advert intervals to take its VIP back.
  const timeoutMs = lab.control === 'seed' ? 3 * HOME_TIMEOUT_MS : HOME_TIMEOUT_MS;
  try {
    await waitForHome(lab, timeoutMs);
    return;
  } catch (error) {
    result.stuck++;
    log(`${result.system} ${result.scenario}: not back home ${timeoutMs / 1000} s after the repair (${(error as Error).message.split('\n')[0]}); repairing harder`);
  }
  await repairAll(lab);
  const agents = lab.agents;
  if (agents !== undefined) {
    for (const node of LB_NODES) {
      await agents.stopAgent(node, 'SIGTERM');
      await agents.startAgent(node);
    }
  }
  await waitForHome(lab, 60_000);
}

// ------------------------------------------------------------------ scenarios

const lbhaScenarios: Scenario[] = [SCENARIOS.proxyDeath, SCENARIOS.proxyKilled, SCENARIOS.hungProxy, SCENARIOS.innerLinkDown, SCENARIOS.keepalivedKilled, SCENARIOS.nodeLost];

/** The seed's keepalived does not restart itself: put it back (and nginx, which chk_nginx.sh may have left). */
async function seedRestore(lab: Lab): Promise<void> {
  lab.restoreProxyConfig(HOLDER);
  await lab.signalProxy(HOLDER, 'SIGCONT');
  await lab.setNodeLinks(HOLDER, 'up');
  if ((await lab.proxyPids(HOLDER)).length === 0) await lab.startProxy(HOLDER);
  await lab.restartKeepalived(HOLDER);
}

const seedScenarios: Scenario[] = [
  {
    ...SCENARIOS.proxyDeath,
    repair: async (lab) => {
      // chk_nginx.sh stops keepalived when nginx does not come back; put the node back as it was.
      await waitFor('chk_nginx.sh to have stopped keepalived on the holder', async () => {
        const pids = await lab.pidsByName(HOLDER, 'keepalived');
        return pids.length === 0 ? { done: true, value: undefined } : { done: false, observed: `pids ${pids.join(' ')}` };
      }, { timeoutMs: 30_000, intervalMs: 100 });
      await seedRestore(lab);
    },
  },
  // chk_nginx.sh starts nginx again within its 5 s interval; nothing else to repair.
  { ...SCENARIOS.proxyKilled, repair: seedRestore },
  { ...SCENARIOS.innerLinkDown, repair: seedRestore },
  { ...SCENARIOS.keepalivedKilled, repair: seedRestore },
  { ...SCENARIOS.nodeLost, repair: seedRestore },
  // chk_nginx.sh only asks whether the nginx pid is alive: a hung nginx is never noticed.
  { ...SCENARIOS.hungProxy, settle: 'observe', repair: async (lab) => void (await lab.signalProxy(HOLDER, 'SIGCONT')) },
];

/** Planned maintenance through the CLI: drain, restart nginx, undrain, with the probe running. */
async function plannedRun(lab: Lab): Promise<PlannedResult> {
  const agents = lab.agents;
  if (agents === undefined) throw new Error('planned operations need the agent lab');
  const probe = await lab.startProbe(VIP, { maxDurationMs: 180_000 });
  let records: ProbeRecord[];
  let started = 0;
  let ended = 0;
  let notHome = false;
  const steps: string[] = [];
  try {
    await waitForServedBy(probe, HOLDER, 0, 30, 20_000);
    started = Date.now();
    for (const args of [
      ['drain', HOLDER, '--wait', '--timeout', '15s', '--reason', 'benchmark'],
      ['restart', HOLDER, 'nginx', '--timeout', '15s', '--reason', 'benchmark'],
      ['undrain', HOLDER, '--wait', '--reason', 'benchmark'],
    ]) {
      const stepStart = Date.now();
      const out = await agents.cli(args);
      if (out.code !== 0) throw new Error(`lbha ${args.join(' ')} exited ${out.code}: ${(out.stderr || out.stdout).trim()}`);
      steps.push(`${args[0]} ${Date.now() - stepStart}`);
    }
    // The operation is over once the VIP serves from home again.
    try {
      await waitForServedBy(probe, HOLDER, Date.now(), 30, HOME_TIMEOUT_MS);
    } catch {
      notHome = true;
    }
    ended = Date.now();
    await sleep(200);
  } finally {
    records = await probe.stop();
  }
  const during = summarizeProbe(records, { fromMs: started, toMs: ended });
  const all = summarizeProbe(records);
  const moveMs = await handoverMoves(lab, started, ended);
  const errorKinds = Object.entries(all.errors).map(([e, n]) => `${e} x${n}`).join(', ');
  return { outageMs: during.longestGapMs, failed: all.failed, requests: during.requests, p99Ms: during.latency.p99, operationMs: ended - started, steps: steps.join(', '), notHome, errorKinds, moveMs };
}

/** For each handover.started of the VIP in [from, to]: how long until the next vip.moved. */
async function handoverMoves(lab: Lab, from: number, to: number): Promise<number[]> {
  const out = await lab.agents?.cli(['events', '--limit', '1000', '--json']);
  if (!out || out.code !== 0) return [];
  const events = out.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { type: string; vip: string; timeMs: number })
    .filter((e) => e.vip === VIP && e.timeMs >= from && e.timeMs <= to)
    .sort((a, b) => a.timeMs - b.timeMs);
  const moves: number[] = [];
  for (const e of events) {
    if (e.type !== 'handover.started') continue;
    const moved = events.find((x) => x.type === 'vip.moved' && x.timeMs >= e.timeMs);
    if (moved) moves.push(moved.timeMs - e.timeMs);
  }
  return moves;
}

async function runScenario(lab: Lab, system: System, scenario: Scenario, runs: number, timeoutMs: number): Promise<ScenarioResult> {
  const result: ScenarioResult = {
    scenario: scenario.name,
    system,
    what: scenario.what,
    runs: [],
    errors: [],
    stuck: 0,
    ...(scenario.settle === 'observe' ? { observeMs: OBSERVE_MS } : {}),
  };
  for (let i = 1; i <= runs; i++) {
    try {
      await ensureHome(lab, result);
      const r = await unplannedRun(lab, scenario, timeoutMs);
      result.runs.push(r);
      log(`${system} ${scenario.name} run ${i}/${runs}: ${describeFigures('probe', r.probe)}; ${describeFigures('sequential', r.sequential)}; neighbour entry moved after ${r.neighbourMovedMs ?? '-'} ms${r.keptAlive ? `; ${describeKept(r.keptAlive)}` : ''}`);
    } catch (error) {
      const message = (error as Error).message.split('\n')[0] ?? '';
      result.errors.push(message);
      log(`${system} ${scenario.name} run ${i}/${runs}: FAILED: ${message}`);
      // Put the node back for the next run whatever state the fault left.
      await repairAll(lab).catch(() => undefined);
    }
  }
  await ensureHome(lab, result).catch((error: unknown) => log(`${system} ${scenario.name}: ${(error as Error).message.split('\n')[0]}`));
  return result;
}

async function repairAll(lab: Lab): Promise<void> {
  for (const node of LB_NODES) {
    lab.restoreProxyConfig(node);
    await lab.signalProxy(node, 'SIGCONT');
    await lab.setNodeLinks(node, 'up');
    lab.setMaintenance(node, false);
  }
  const agents = lab.agents;
  if (agents !== undefined) {
    for (const node of LB_NODES) {
      await agents.cli(['undrain', node]).catch(() => undefined);
    }
    return;
  }
  for (const node of LB_NODES) {
    if ((await lab.proxyPids(node)).length === 0) await lab.startProxy(node).catch(() => undefined);
    await lab.restartKeepalived(node).catch(() => undefined);
  }
}

// ------------------------------------------------------------------ labs

let current: Lab | undefined;

async function withLab<T>(control: 'agent' | 'seed', timing: 'default' | 'fast', body: (lab: Lab) => Promise<T>): Promise<T> {
  log(`starting the lab (topology a, control ${control}, timing ${timing})`);
  const lab = await startLab({ topology: 'a', control, log, settleTimeoutMs: 60_000, timing });
  current = lab;
  try {
    return await body(lab);
  } finally {
    current = undefined;
    await lab.down();
  }
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`${sig}: tearing the lab down`);
    void (current?.down() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

// ------------------------------------------------------------------ report

type ClientKind = 'probe' | 'sequential';

function clientRecord(r: ScenarioResult, kind: ClientKind): Record<string, unknown> {
  const f = r.runs.map((x) => x[kind]);
  const d = (values: readonly number[]) => distribution(values);
  const failed = d(f.map((x) => x.failed));
  const lost = d(f.map((x) => x.lost));
  const slow = d(f.map((x) => x.slow));
  const gap = d(f.map((x) => x.longestGapMs));
  const answeredMs = f.flatMap((x) => (x.newHolderMs === undefined ? [] : [x.newHolderMs]));
  const answered = d(answeredMs);
  return {
    failed_p50: failed.p50,
    failed_p95: failed.p95,
    failed_max: failed.max,
    lost_p50: lost.p50,
    lost_max: lost.max,
    slow_over_100ms_p95: slow.p95,
    longest_gap_ms_p50: gap.p50,
    longest_gap_ms_p95: gap.p95,
    // null: the new holder never answered (a fault that moved nothing).
    new_holder_answers_ms_p50: answeredMs.length > 0 ? answered.p50 : null,
    new_holder_answers_ms_p95: answeredMs.length > 0 ? answered.p95 : null,
  };
}

function describeKept(w: WrkResult): string {
  return `kept-alive: ${w.requests} requests, ${w.errors} errors (read ${w.readErrors}, write ${w.writeErrors}, timeout ${w.timeouts}, non-2xx ${w.non2xx}), the longest any connection went without an answer ${w.longestSilenceMs} ms`;
}

/** The kept-alive client over a scenario's runs; undefined where it did not run. */
function keptRecord(r: ScenarioResult): Record<string, number> | undefined {
  const w = r.runs.flatMap((x) => (x.keptAlive ? [x.keptAlive] : []));
  if (w.length === 0) return undefined;
  const silence = distribution(w.map((x) => x.longestSilenceMs));
  const resets = distribution(w.map((x) => x.readErrors + x.writeErrors));
  const non2xx = distribution(w.map((x) => x.non2xx));
  return {
    runs: w.length,
    longest_silence_ms_p50: silence.p50,
    longest_silence_ms_max: silence.max,
    // Over 4 s (wrk's 3 s timeout, the 20 ms pause, a second): the connection stalled.
    stalled_runs: w.filter((x) => x.longestSilenceMs >= (KEPT_ALIVE.timeoutS ?? 2) * 1000 + 1000).length,
    resets_p50: resets.p50,
    resets_max: resets.max,
    non2xx_p50: non2xx.p50,
    non2xx_max: non2xx.max,
  };
}

function scenarioRecord(r: ScenarioResult): Record<string, unknown> {
  const movedMs = r.runs.flatMap((x) => (x.neighbourMovedMs === undefined ? [] : [x.neighbourMovedMs]));
  const moved = distribution(movedMs);
  return {
    scenario: r.scenario,
    system: r.system,
    runs: r.runs.length,
    probe: clientRecord(r, 'probe'),
    sequential: clientRecord(r, 'sequential'),
    client_neighbour_moved_ms_p50: movedMs.length > 0 ? moved.p50 : null,
    client_neighbour_moved_ms_p95: movedMs.length > 0 ? moved.p95 : null,
    neighbour_never_moved: r.runs.filter((x) => x.neighbourMovedMs === undefined).length,
    ...(keptRecord(r) ? { kept_alive: keptRecord(r) } : {}),
    ...(r.observeMs === undefined ? {} : { observed_ms: r.observeMs }),
    errors: r.errors.length,
    failback_stuck: r.stuck,
  };
}

function clientTable(results: readonly ScenarioResult[], kind: ClientKind): string {
  const rows = results.map((r) => {
    const c = clientRecord(r, kind);
    const movedMs = r.runs.flatMap((x) => (x.neighbourMovedMs === undefined ? [] : [x.neighbourMovedMs]));
    const dash = (v: unknown): string | number => (typeof v === 'number' ? v : '-');
    const system = r.observeMs === undefined ? r.system : `${r.system} (watched ${r.observeMs / 1000} s)`;
    return [r.scenario, system, r.runs.length, c.failed_p50, c.failed_p95, c.failed_max, c.lost_p50, c.lost_max, c.slow_over_100ms_p95, c.longest_gap_ms_p50, c.longest_gap_ms_p95, dash(c.new_holder_answers_ms_p50), dash(c.new_holder_answers_ms_p95), movedMs.length > 0 ? distribution(movedMs).p50 : '-', r.errors.length, r.stuck] as (string | number)[];
  });
  return table(['scenario', 'system', 'runs', 'failed p50', 'p95', 'max', 'lost p50', 'max', 'slow>100ms p95', 'gap p50 ms', 'p95', 'new holder p50 ms', 'p95', 'neigh moved p50', 'errors', 'not home'], rows);
}

function report(results: readonly ScenarioResult[], planned: PlannedResult[]): void {
  const out: string[] = [];
  const unplanned = [...results].sort((a, b) => a.scenario.localeCompare(b.scenario) || a.system.localeCompare(b.system));
  out.push('Unplanned faults on the VIP holder. failed: never reached a server; lost: accepted by the failing proxy, then cut (apart).');
  out.push('');
  out.push('Client 1, probe: a request every 10 ms, a fresh connection each, 500 ms timeout');
  out.push(clientTable(unplanned, 'probe'));
  out.push('');
  out.push('Client 2, sequential: each request waits for the previous one, fresh connection, 300 ms timeout');
  out.push(clientTable(unplanned, 'sequential'));
  const kept = unplanned.flatMap((r) => {
    const k = keptRecord(r);
    return k ? [[r.scenario, r.system, k.runs, k.longest_silence_ms_p50, k.longest_silence_ms_max, k.stalled_runs, k.resets_p50, k.resets_max, k.non2xx_p50, k.non2xx_max] as (string | number)[]] : [];
  });
  if (kept.length > 0) {
    out.push('');
    out.push('Client 3, kept-alive: wrk, 8 connections one thread each, a request every 20 ms, no retry; stalled: a connection 4 s or more without an answer');
    out.push(table(['scenario', 'system', 'runs', 'longest silence p50 ms', 'max', 'stalled runs', 'resets p50', 'max', 'non-2xx p50', 'max'], kept));
  }
  if (planned.length > 0) {
    out.push('');
    out.push('Planned: lbha drain, lbha restart nginx, lbha undrain on the VIP holder, probe running');
    out.push(
      table(
        ['run', 'operation ms', 'steps (ms)', 'failed', 'requests', 'client p99 ms', 'longest gap ms', 'handover -> moved ms'],
        planned.map((r, i) => [String(i + 1), r.operationMs, r.steps, r.failed, r.requests, r.p99Ms, r.outageMs, r.moveMs.join(', ')]),
      ),
    );
  }
  const lines = unplanned.map((r) => jsonLine(scenarioRecord(r)));
  if (planned.length > 0) {
    const f = distribution(planned.map((x) => x.failed));
    const gap = distribution(planned.map((x) => x.outageMs));
    lines.push(jsonLine({ scenario: 'planned-restart', system: 'lbha', runs: planned.length, failed_p50: f.p50, failed_max: f.max, longest_gap_ms_p50: gap.p50, longest_gap_ms_p95: gap.p95, operation_ms_p50: distribution(planned.map((x) => x.operationMs)).p50, handover_to_move_ms_p50: distribution(planned.flatMap((x) => x.moveMs)).p50, not_home: planned.filter((x) => x.notHome).length }));
  }
  out.push('');
  out.push(...lines);
  process.stdout.write(`${out.join('\n')}\n`);
  if (OUT !== '') writeFileSync(OUT, `${lines.join('\n')}\n`);
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const reason = labUnavailableReason();
  if (reason !== undefined) {
    process.stderr.write(`bench:failover: ${reason}\n`);
    process.exit(2);
  }
  const results: ScenarioResult[] = [];
  const planned: PlannedResult[] = [];
  const lbhaWanted = lbhaScenarios.filter((s) => wanted(s.name));
  if (lbhaWanted.length > 0 || wanted('planned-restart')) {
    await withLab('agent', 'default', async (lab) => {
      for (const scenario of lbhaWanted) if (RUNS > 0) results.push(await runScenario(lab, 'lbha', scenario, RUNS, 30_000));
      if (!wanted('planned-restart')) return;
      const bucket: ScenarioResult = { scenario: 'planned-restart', system: 'lbha', what: '', runs: [], errors: [], stuck: 0 };
      for (let i = 1; i <= PLANNED_RUNS; i++) {
        try {
          await ensureHome(lab, bucket);
          const r = await plannedRun(lab);
          planned.push(r);
          log(`lbha planned-restart run ${i}/${PLANNED_RUNS}: ${r.failed} failed of ${r.requests}, p99 ${r.p99Ms.toFixed(1)} ms, ${r.operationMs} ms (${r.steps})${r.failed > 0 ? `; failed: ${r.errorKinds}` : ''}`);
        } catch (error) {
          log(`lbha planned-restart run ${i}/${PLANNED_RUNS}: FAILED: ${(error as Error).message.split('\n')[0] ?? ''}`);
          await repairAll(lab).catch(() => undefined);
        }
      }
    });
  }
  if (wanted('node-lost') && FAST_RUNS > 0) {
    await withLab('agent', 'fast', async (lab) => {
      results.push(await runScenario(lab, 'lbha fast', SCENARIOS.nodeLost, FAST_RUNS, 30_000));
    });
  }
  const seedWanted = seedScenarios.filter((s) => wanted(s.name) || wanted('seed'));
  if (seedWanted.length > 0) {
    await withLab('seed', 'default', async (lab) => {
      for (const scenario of seedWanted) {
        const runs = scenario.settle === 'observe' ? BASELINE_HUNG_RUNS : BASELINE_RUNS;
        if (runs > 0) results.push(await runScenario(lab, 'seed', scenario, runs, 60_000));
      }
    });
  }
  report(results, planned);
}

main().catch(async (error: unknown) => {
  process.stderr.write(`bench:failover failed: ${(error as Error).stack ?? String(error)}\n`);
  await current?.down().catch(() => undefined);
  process.exit(1);
});
