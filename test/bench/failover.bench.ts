// npm run bench:failover — what a client sees when a load-balancer node breaks, under lbha and
// under the seed's own keepalived configuration, on the same network-namespace lab.
//
// A probe in the client namespace requests the VIP every 10 ms on a fresh connection. Each run
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
import { LB_NODES, labUnavailableReason, startLab, summarizeProbe, type Lab, type LbNode, type ProbeRecord, type ProbeSession } from '../lab/index.js';
import { distribution, intOption, jsonLine, stringOption, table } from './bench-stats.js';

type System = 'lbha' | 'seed';

interface Scenario {
  readonly name: string;
  readonly what: string;
  /** Target for the outage p95, in ms (for the table), or undefined. */
  readonly targetMs?: number;
  /**
   * When the run is over: 'peer' once the peer serves (default); 'home' once the holder serves
   * again after the peer did, for faults lbha repairs by itself (the failback is part of it);
   * 'observe' after OBSERVE_MS whatever happens (a fault the configuration may never notice).
   */
  readonly settle?: 'peer' | 'home' | 'observe';
  inject(lab: Lab): Promise<void>;
  repair(lab: Lab): Promise<void>;
}

interface RunResult {
  readonly outageMs: number;
  readonly failed: number;
  readonly requests: number;
  readonly p99Ms: number;
  readonly operationMs?: number;
  /** Failed requests by error, e.g. "ECONNRESET x1". */
  readonly errorKinds?: string;
  /** Planned runs: how long each CLI command took, e.g. "drain 1200, restart 900, undrain 300". */
  readonly steps?: string;
  /** Planned runs: the VIP did not serve from home again within HOME_TIMEOUT_MS of the undrain. */
  readonly notHome?: boolean;
  /** Planned runs: per planned move, from handover.started to vip.moved (the cost of preparing the handover plus VRRP). */
  readonly moveMs?: readonly number[];
}

interface ScenarioResult {
  readonly scenario: string;
  readonly system: System;
  readonly what: string;
  readonly targetMs?: number;
  readonly runs: RunResult[];
  readonly errors: string[];
  /** Repairs after which the VIP did not come home by itself within HOME_TIMEOUT_MS. */
  stuck: number;
  /** Set when each run watched the client for a fixed window after the fault. */
  readonly observeMs?: number;
}

/** How long the VIP may take to come home after a repair before the run counts as stuck. */
const HOME_TIMEOUT_MS = 12_000;
/** How long an 'observe' run watches the client after the fault. */
const OBSERVE_MS = 20_000;

const argv = process.argv.slice(2);
const RUNS = intOption(argv, '--runs', 'LBHA_BENCH_RUNS', 10);
const BASELINE_RUNS = intOption(argv, '--baseline-runs', 'LBHA_BENCH_BASELINE_RUNS', 5);
const BASELINE_HUNG_RUNS = intOption(argv, '--baseline-hung-runs', 'LBHA_BENCH_BASELINE_HUNG_RUNS', 1);
const OTHER_RUNS = intOption(argv, '--other-runs', 'LBHA_BENCH_OTHER_RUNS', 5);
const PLANNED_RUNS = intOption(argv, '--planned-runs', 'LBHA_BENCH_PLANNED_RUNS', 3);
const ONLY = stringOption(argv, '--only', 'LBHA_BENCH_ONLY', '')
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '');
const OUT = stringOption(argv, '--out', 'LBHA_BENCH_OUT', '');

const VIP = 'vip1';
const HOLDER: LbNode = 'lb1';
const PEER: LbNode = 'lb2';

const log = (line: string): void => {
  process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
};

const wanted = (name: string): boolean => ONLY.length === 0 || ONLY.includes(name);

// ------------------------------------------------------------------ waiting

/** Waits until the probe has `count` successful responses sent at or after `sinceMs` through `lb`. */
async function waitForServedBy(probe: ProbeSession, lb: LbNode, sinceMs: number, count: number, timeoutMs: number): Promise<void> {
  await waitFor(`${count} successful requests through ${lb}`, async () => {
    const good = (await probe.records()).filter((r) => r.t >= sinceMs && r.ok && r.lb === lb).length;
    return good >= count ? { done: true, value: undefined } : { done: false, observed: `${good} so far` };
  }, { timeoutMs, intervalMs: 50 });
}

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

const lbhaScenarios: Scenario[] = [
  {
    name: 'proxy-death',
    what: 'nginx master+workers SIGKILLed on the holder, config broken (cannot restart)',
    targetMs: 250,
    inject: async (lab) => void (await lab.killProxy(HOLDER, { breakConfig: true })),
    // The agent retries at once when the config file changes.
    repair: async (lab) => lab.restoreProxyConfig(HOLDER),
  },
  {
    name: 'hung-proxy',
    what: 'nginx master+workers SIGSTOPped on the holder (alive, not answering)',
    inject: async (lab) => void (await lab.signalProxy(HOLDER, 'SIGSTOP')),
    repair: async (lab) => void (await lab.signalProxy(HOLDER, 'SIGCONT')),
  },
  {
    name: 'inner-link-down',
    what: 'inner interface eth2 of the holder down (the seed\'s track_interface)',
    targetMs: 1000,
    inject: (lab) => lab.setLink(HOLDER, 'eth2', 'down'),
    repair: (lab) => lab.setLink(HOLDER, 'eth2', 'up'),
  },
  {
    name: 'keepalived-killed',
    what: 'keepalived SIGKILLed on the holder (the agent restarts it; the VIP comes back)',
    targetMs: 1000,
    settle: 'home',
    inject: async (lab) => void (await lab.killKeepalived(HOLDER, 'SIGKILL')),
    // The agent restarts keepalived by itself.
    repair: async () => undefined,
  },
  {
    name: 'node-lost',
    what: 'every link of the holder down (node lost)',
    targetMs: 1000,
    inject: (lab) => lab.setNodeLinks(HOLDER, 'down'),
    repair: (lab) => lab.setNodeLinks(HOLDER, 'up'),
  },
];

const seedProxyDeath: Scenario = {
  name: 'proxy-death',
  what: lbhaScenarios[0]?.what ?? '',
  inject: async (lab) => void (await lab.killProxy(HOLDER, { breakConfig: true })),
  repair: async (lab) => {
    // chk_nginx.sh stops keepalived when nginx does not come back; put the node back as it was.
    await waitFor('chk_nginx.sh to have stopped keepalived on the holder', async () => {
      const pids = await lab.pidsByName(HOLDER, 'keepalived');
      return pids.length === 0 ? { done: true, value: undefined } : { done: false, observed: `pids ${pids.join(' ')}` };
    }, { timeoutMs: 30_000, intervalMs: 100 });
    lab.restoreProxyConfig(HOLDER);
    if ((await lab.proxyPids(HOLDER)).length === 0) await lab.startProxy(HOLDER);
    await lab.restartKeepalived(HOLDER);
  },
};

/**
 * The seed's chk_nginx.sh only asks whether the nginx pid is alive: a hung nginx is never
 * noticed. Watched for OBSERVE_MS; the outage is the time without a successful response.
 */
const seedHungProxy: Scenario = {
  name: 'hung-proxy',
  what: 'nginx master+workers SIGSTOPped on the holder (alive, not answering)',
  settle: 'observe',
  inject: async (lab) => void (await lab.signalProxy(HOLDER, 'SIGSTOP')),
  repair: async (lab) => void (await lab.signalProxy(HOLDER, 'SIGCONT')),
};

/** One unplanned run: clean probe, fault, wait for the peer to serve, stop the probe, repair. */
async function unplannedRun(lab: Lab, scenario: Scenario, timeoutMs: number): Promise<RunResult> {
  const probe = await lab.startProbe(VIP, { maxDurationMs: 180_000 });
  let records: ProbeRecord[];
  try {
    await waitForServedBy(probe, HOLDER, 0, 30, 20_000);
    const t0 = Date.now();
    await scenario.inject(lab);
    if (scenario.settle === 'observe') {
      await sleep(OBSERVE_MS);
    } else if (scenario.settle === 'home') {
      await waitForServedBy(probe, PEER, t0, 1, timeoutMs);
      await waitForServedBy(probe, HOLDER, Date.now(), 30, timeoutMs);
    } else {
      await waitForServedBy(probe, PEER, t0, 30, timeoutMs);
    }
    await sleep(200);
  } finally {
    records = await probe.stop();
  }
  await scenario.repair(lab);
  const s = summarizeProbe(records);
  return { outageMs: s.longestGapMs, failed: s.failed, requests: s.requests, p99Ms: s.latency.p99, errorKinds: describeErrors(s.errors) };
}

function describeErrors(errors: Readonly<Record<string, number>>): string {
  return Object.entries(errors)
    .map(([e, n]) => `${e} x${n}`)
    .join(', ');
}

/** Planned maintenance through the CLI: drain, restart nginx, undrain, with the probe running. */
async function plannedRun(lab: Lab): Promise<RunResult> {
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
  return { outageMs: during.longestGapMs, failed: all.failed, requests: during.requests, p99Ms: during.latency.p99, operationMs: ended - started, steps: steps.join(', '), notHome, errorKinds: describeErrors(all.errors), moveMs };
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
    targetMs: scenario.targetMs,
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
      log(`${system} ${scenario.name} run ${i}/${runs}: outage ${r.outageMs.toFixed(0)} ms, ${r.failed} failed of ${r.requests}${r.failed > 0 ? ` (${r.errorKinds})` : ''}`);
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

async function withLab<T>(control: 'agent' | 'seed', body: (lab: Lab) => Promise<T>): Promise<T> {
  log(`starting the lab (topology a, control ${control})`);
  const lab = await startLab({ topology: 'a', control, log, settleTimeoutMs: 60_000 });
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

function outageRecord(r: ScenarioResult): Record<string, unknown> {
  const outage = distribution(r.runs.map((x) => x.outageMs));
  const failed = distribution(r.runs.map((x) => x.failed));
  return {
    scenario: r.scenario,
    system: r.system,
    runs: r.runs.length,
    outage_ms_p50: outage.p50,
    outage_ms_p95: outage.p95,
    outage_ms_max: outage.max,
    failed_requests_p50: failed.p50,
    failed_requests_p95: failed.p95,
    failed_requests_max: failed.max,
    ...(r.targetMs === undefined ? {} : { target_outage_ms_p95: r.targetMs }),
    ...(r.runs.some((x) => x.operationMs !== undefined)
      ? {
          client_p99_ms_p50: distribution(r.runs.map((x) => x.p99Ms)).p50,
          client_p99_ms_max: distribution(r.runs.map((x) => x.p99Ms)).max,
          operation_ms_p50: distribution(r.runs.map((x) => x.operationMs ?? 0)).p50,
          failed_requests_total: r.runs.reduce((sum, x) => sum + x.failed, 0),
          handover_to_move_ms_p50: distribution(r.runs.flatMap((x) => x.moveMs ?? [])).p50,
        }
      : {}),
    ...(r.observeMs === undefined ? {} : { observed_ms: r.observeMs }),
    errors: r.errors.length,
    failback_stuck: r.stuck,
  };
}

function report(results: readonly ScenarioResult[]): void {
  const rows = results.map((r) => {
    const o = distribution(r.runs.map((x) => x.outageMs));
    const f = distribution(r.runs.map((x) => x.failed));
    const system = r.observeMs === undefined ? r.system : `${r.system} (watched ${r.observeMs / 1000} s)`;
    return [r.scenario, system, r.runs.length, o.p50, o.p95, o.max, f.p50, f.p95, f.max, r.targetMs === undefined ? '' : `${r.targetMs}`, r.errors.length, r.stuck];
  });
  const out: string[] = [];
  out.push('Unplanned faults on the VIP holder (client: one request every 10 ms, fresh connection each)');
  out.push(table(['scenario', 'system', 'runs', 'outage p50 ms', 'p95', 'max', 'failed p50', 'p95', 'max', 'target p95', 'errors', 'not home'], rows));
  const lbha = results.find((r) => r.scenario === 'proxy-death' && r.system === 'lbha');
  const seed = results.find((r) => r.scenario === 'proxy-death' && r.system === 'seed');
  if (lbha && seed && lbha.runs.length > 0 && seed.runs.length > 0) {
    const lo = distribution(lbha.runs.map((x) => x.outageMs));
    const so = distribution(seed.runs.map((x) => x.outageMs));
    const lf = distribution(lbha.runs.map((x) => x.failed));
    const sf = distribution(seed.runs.map((x) => x.failed));
    out.push('');
    out.push('Proxy death, lbha against the seed configuration (medians)');
    out.push(
      table(
        ['', 'seed', 'lbha', 'seed / lbha'],
        [
          ['outage ms', so.p50, lo.p50, lo.p50 > 0 ? `${(so.p50 / lo.p50).toFixed(1)}x` : '-'],
          ['failed requests', sf.p50, lf.p50, lf.p50 > 0 ? `${(sf.p50 / lf.p50).toFixed(1)}x` : '-'],
        ],
      ),
    );
  }
  const planned = results.find((r) => r.scenario === 'planned-restart');
  if (planned && planned.runs.length > 0) {
    out.push('');
    out.push('Planned: lbha drain, lbha restart nginx, lbha undrain on the VIP holder, probe running');
    out.push(
      table(
        ['run', 'operation ms', 'steps (ms)', 'failed', 'requests', 'client p99 ms', 'longest gap ms', 'handover -> moved ms'],
        planned.runs.map((r, i) => [String(i + 1), r.operationMs ?? 0, r.steps ?? '', r.failed, r.requests, r.p99Ms, r.outageMs, (r.moveMs ?? []).join(', ')]),
      ),
    );
  }
  out.push('');
  for (const r of results) out.push(jsonLine(outageRecord(r)));
  process.stdout.write(`${out.join('\n')}\n`);
  if (OUT !== '') writeFileSync(OUT, `${results.map((r) => jsonLine(outageRecord(r))).join('\n')}\n`);
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const reason = labUnavailableReason();
  if (reason !== undefined) {
    process.stderr.write(`bench:failover: ${reason}\n`);
    process.exit(2);
  }
  const results: ScenarioResult[] = [];
  const lbhaWanted = lbhaScenarios.some((s) => wanted(s.name)) || wanted('planned-restart');
  if (lbhaWanted) {
    await withLab('agent', async (lab) => {
      for (const scenario of lbhaScenarios) {
        if (!wanted(scenario.name)) continue;
        const runs = scenario.name === 'proxy-death' ? RUNS : OTHER_RUNS;
        if (runs > 0) results.push(await runScenario(lab, 'lbha', scenario, runs, 30_000));
      }
      if (wanted('planned-restart') && PLANNED_RUNS > 0) {
        const planned: ScenarioResult = { scenario: 'planned-restart', system: 'lbha', what: 'drain, restart nginx, undrain through the CLI', runs: [], errors: [], stuck: 0 };
        for (let i = 1; i <= PLANNED_RUNS; i++) {
          try {
            await ensureHome(lab, planned);
            const r = await plannedRun(lab);
            planned.runs.push(r);
            if (r.notHome === true) planned.stuck++;
            log(`lbha planned-restart run ${i}/${PLANNED_RUNS}: ${r.failed} failed of ${r.requests}, p99 ${r.p99Ms.toFixed(1)} ms, ${r.operationMs} ms (${r.steps})${r.failed > 0 ? `; failed: ${r.errorKinds}` : ''}`);
          } catch (error) {
            const message = (error as Error).message.split('\n')[0] ?? '';
            planned.errors.push(message);
            log(`lbha planned-restart run ${i}/${PLANNED_RUNS}: FAILED: ${message}`);
            await repairAll(lab).catch(() => undefined);
          }
        }
        results.push(planned);
      }
    });
  }
  const seedDeath = (wanted('proxy-death') || wanted('seed')) && BASELINE_RUNS > 0;
  const seedHung = (wanted('hung-proxy') || wanted('seed')) && BASELINE_HUNG_RUNS > 0;
  if (seedDeath || seedHung) {
    await withLab('seed', async (lab) => {
      if (seedDeath) results.push(await runScenario(lab, 'seed', seedProxyDeath, BASELINE_RUNS, 60_000));
      if (seedHung) results.push(await runScenario(lab, 'seed', seedHungProxy, BASELINE_HUNG_RUNS, 60_000));
    });
  }
  report(results);
}

main().catch(async (error: unknown) => {
  process.stderr.write(`bench:failover failed: ${(error as Error).stack ?? String(error)}\n`);
  await current?.down().catch(() => undefined);
  process.exit(1);
});
