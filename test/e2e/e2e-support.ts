// Shared pieces of the end-to-end tests: when to skip, and assertions on what the client saw.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { after, afterEach, before } from 'node:test';
import { eventually, waitFor } from '@lbha/test-support';
import type { Lab, LbNode, ProbeRecord, ProbeSession, TopologyName, WrkResult } from '../lab/index.js';
import { LB_NODES, labUnavailableReason, runLeftovers, startLab, summarizeProbe, webNodeOfPage } from '../lab/index.js';
import type { NodeInfo } from '../lab/control-api.js';
import type { Vrrp2Options } from '../lab/lbha-configs.js';

/** Why the lab tests cannot run here (not root), or undefined. CI runs as root, so there they run. */
export const skipReason: string | undefined = (() => {
  const reason = labUnavailableReason();
  return reason === undefined ? undefined : `skipped: ${reason}`;
})();

/**
 * Registers the hooks of a lab test file: one agent lab for the whole file, brought back to its
 * baseline after each test (also after a failure), and removed at the end with a check that
 * nothing was left behind. `bind` hands the lab to the file once it is up.
 */
export function useAgentLab(topology: TopologyName, bind: (lab: Lab) => void, options: { afterRepair?: (lab: Lab) => Promise<void>; backends?: boolean; vrrp2?: Vrrp2Options; nginxWorkers?: number } = {}): void {
  let lab: Lab | undefined;
  before(async () => {
    lab = await startLab({ topology, control: 'agent', backends: options.backends ?? false, ...(options.vrrp2 ? { vrrp2: options.vrrp2 } : {}), ...(options.nginxWorkers ? { nginxWorkers: options.nginxWorkers } : {}) });
    bind(lab);
    await waitForBaseline(lab);
  });
  after(async () => {
    if (lab === undefined) return;
    await lab.down();
    assert.deepEqual(await runLeftovers(lab.runId, lab.runDir), [], 'down leaves no namespace, process or file behind');
  });
  afterEach(async () => {
    if (lab === undefined) return;
    await repairLab(lab);
    await options.afterRepair?.(lab);
    await waitForBaseline(lab, 45_000);
  });
}

/** The agent side of a lab started with `control: 'agent'`. */
export function agentsOf(lab: Lab): NonNullable<Lab['agents']> {
  const a = lab.agents;
  assert.ok(a, 'the lab runs agents');
  return a;
}

/** Every request succeeded, went through `lb`, and the web nodes took turns. */
export function assertServedBy(lab: Lab, records: readonly ProbeRecord[], lb: LbNode): void {
  assert.ok(records.length > 0, 'no requests were sent');
  const failed = records.filter((r) => !r.ok);
  assert.deepEqual(failed.map((r) => r.error), [], 'every request succeeds');
  assert.deepEqual([...new Set(records.map((r) => r.lb))], [lb], `every request is served by ${lb}`);
  const webs = records.map((r) => webNodeOfPage(lab.plan, r.page ?? ''));
  assert.ok(!webs.includes(undefined), `every page is a web node's page, got ${JSON.stringify(records.map((r) => r.page))}`);
  assert.deepEqual(new Set(webs), new Set(['web1', 'web2']), 'both web nodes answer');
  if (lab.plan.proxy === 'nginx') {
    // nginx (one worker) round robin: consecutive requests alternate between the web nodes.
    for (let i = 1; i < webs.length; i++) assert.notEqual(webs[i], webs[i - 1], `requests alternate between web nodes: ${webs.join(' ')}`);
  } else {
    // haproxy round robin over several threads: even shares, not a strict order.
    const web1 = webs.filter((w) => w === 'web1').length;
    assert.ok(Math.abs(web1 - (webs.length - web1)) <= 2, `the web nodes share the requests evenly: ${webs.join(' ')}`);
  }
}

/** Successful responses after `fromMs` came only through `lb`. */
export function servedOnlyBy(records: readonly ProbeRecord[], lb: LbNode, fromMs = 0): boolean {
  return records.filter((r) => r.ok && r.t >= fromMs).every((r) => r.lb === lb);
}

/**
 * A restart in place as the client sees it: while the proxy was down its new connections were
 * served by `peer` (the node hands them over, docs/design/unplanned-failover.md), and once `lb`
 * answered again after `restartedMs`, only `lb` did: the VIP never moved. Returns how many the
 * peer served.
 */
export function assertRestartedInPlace(records: readonly ProbeRecord[], lb: LbNode, peer: LbNode, restartedMs: number): number {
  const ok = records.filter((r) => r.ok);
  assert.deepEqual([...new Set(ok.map((r) => r.lb))].filter((n) => n !== lb && n !== peer), [], `answers came from ${lb} or, while it restarted, ${peer}`);
  const back = ok.find((r) => r.lb === lb && r.t >= restartedMs);
  assert.ok(back, `${lb} answered again after the restart`);
  assert.ok(servedOnlyBy(records, lb, back.t), `once ${lb} answered again, only ${lb} did: the VIP never moved`);
  return ok.filter((r) => r.lb === peer).length;
}

/** Waits until the probe has `count` successful responses sent at or after `sinceMs` (optionally via `lb`). */
export async function waitForSuccesses(probe: ProbeSession, sinceMs: number, count: number, lb?: LbNode, timeoutMs = 30_000): Promise<ProbeRecord[]> {
  return waitFor(`${count} successful requests to ${probe.vip.address}${lb ? ` through ${lb}` : ''}`, async () => {
    const records = (await probe.records()).filter((r) => r.t >= sinceMs);
    const good = records.filter((r) => r.ok && (lb === undefined || r.lb === lb));
    return good.length >= count
      ? { done: true, value: records }
      : { done: false, observed: `${good.length} of ${records.length} since then` };
  }, { timeoutMs, intervalMs: 50 });
}

/** The coordinator's record of a node (undefined when it does not know it or cannot be reached). */
export async function nodeInfo(lab: Lab, node: LbNode): Promise<NodeInfo | undefined> {
  const agents = lab.agents;
  if (agents === undefined) return undefined;
  return (await agents.api.listNodes()).find((n) => n.name === node);
}

/** Waits until the coordinator reports the node as connected and healthy (or unhealthy). */
export async function waitForNodeHealth(lab: Lab, node: LbNode, healthy: boolean, timeoutMs = 30_000): Promise<NodeInfo> {
  return waitFor(`the coordinator to report ${node} ${healthy ? 'healthy' : 'unhealthy'}`, async () => {
    let info: NodeInfo | undefined;
    try {
      info = await nodeInfo(lab, node);
    } catch (error) {
      return { done: false, observed: (error as Error).message };
    }
    if (info === undefined) return { done: false, observed: 'unknown node' };
    return info.connected && info.healthy === healthy
      ? { done: true, value: info }
      : { done: false, observed: `connected ${info.connected}, healthy ${info.healthy}` };
  }, { timeoutMs, intervalMs: 100 });
}

/**
 * Puts the lab back the way the previous test may have left it broken: proxy configs, maintenance
 * files, links, the coordinator and the agents. Safe to call when nothing is broken.
 */
export async function repairLab(lab: Lab): Promise<void> {
  for (const node of LB_NODES) {
    lab.restoreProxyConfig(node);
    await lab.signalProxy(node, 'SIGCONT');
    lab.setMaintenance(node, false);
    for (const iface of ['eth1', 'eth2'] as const) await lab.setLink(node, iface, 'up');
  }
  const agents = lab.agents;
  if (agents !== undefined) {
    if (!agents.coordinatorRunning) await agents.startCoordinator();
    for (const node of LB_NODES) if (!agents.agentProcess(node)?.isRunning()) await agents.startAgent(node);
    await agents.waitForAgentsConnected();
    for (const node of LB_NODES) {
      // NodeMode 1 = active; a test that failed mid-drain leaves the node drained.
      const info = await nodeInfo(lab, node);
      if (info !== undefined && info.mode !== 1) await agents.cli(['undrain', node]);
    }
  }
}

/** Every VIP on its home node (interfaces and, with agents, the coordinator agree), every node healthy. */
export async function waitForBaseline(lab: Lab, timeoutMs = 30_000): Promise<void> {
  for (const vip of lab.plan.vips) await lab.waitForHolder(vip.name, vip.home, { timeoutMs });
  const agents = lab.agents;
  if (agents === undefined) return;
  await agents.waitForAgentsConnected({ timeoutMs });
  for (const node of LB_NODES) await waitForNodeHealth(lab, node, true, timeoutMs);
  for (const vip of lab.plan.vips) await agents.waitForReportedHolder(vip.name, vip.home, { timeoutMs });
}

/** One line for the test log: what the client saw between two moments. */
export function outageLine(label: string, records: readonly ProbeRecord[], fromMs: number, toMs?: number): string {
  const s = summarizeProbe(records, { fromMs, ...(toMs === undefined ? {} : { toMs }) });
  return `${label}: ${s.requests} requests, ${s.failed} failed, longest gap ${s.longestGapMs.toFixed(0)} ms`;
}

/** One line for the test log: what wrk's kept-alive connections saw. */
export function describeWrk(w: WrkResult): string {
  return `wrk: ${w.requests} requests, ${w.errors} errors (connect ${w.connectErrors}, read ${w.readErrors}, write ${w.writeErrors}, timeout ${w.timeouts}, non-2xx ${w.non2xx}), latency max ${w.latencyMaxMs} ms, the longest any connection went without an answer ${w.longestSilenceMs} ms`;
}

/**
 * Asserts that wrk saw no error and that no kept-alive connection stalled. wrk 4.1 counts a
 * timeout only for a request answered late: a request never answered adds no error and no request,
 * and shows only as the connection's silence (run wrk with `perConnection`, one connection per
 * thread, so one stalled connection does not hide behind the answers of others). A silence longer
 * than wrk's own timeout plus the pause between requests and a second's slack (a SYN sent again)
 * is a request that was never answered.
 */
export function assertKeptAliveServed(w: WrkResult, options: { timeoutS: number; delayMs?: number }, what: string): void {
  assert.equal(w.errors, 0, `${what}: no kept-alive connection failed (${describeWrk(w)})`);
  assertNoStalledConnection(w, options, what);
}

/** The part of assertKeptAliveServed that holds where a connection may be reset: none stalled. */
export function assertNoStalledConnection(w: WrkResult, options: { timeoutS: number; delayMs?: number }, what: string): void {
  assert.ok(w.requests > 0, `${what}: wrk ran (${describeWrk(w)})`);
  const limitMs = options.timeoutS * 1000 + (options.delayMs ?? 0) + 1000;
  assert.ok(w.longestSilenceMs < limitMs, `${what}: no kept-alive connection stalled: the longest went ${w.longestSilenceMs} ms without an answer (at most ${limitMs} ms: wrk's timeout, the pause, a second) (${describeWrk(w)})`);
}

/** Waits until the coordinator reports the check failing on the node; returns its reason. */
export async function waitForFailingCheck(lab: Lab, node: LbNode, check: string, timeoutMs = 30_000): Promise<string> {
  return waitFor(`the coordinator to report check ${check} failing on ${node}`, async () => {
    let info: NodeInfo | undefined;
    try {
      info = await nodeInfo(lab, node);
    } catch (error) {
      return { done: false, observed: (error as Error).message };
    }
    const status = info?.state?.checks.find((c) => c.name === check);
    // CheckResultKind: 1 = healthy, 2 = unhealthy, 3 = unknown.
    if (status?.result !== undefined && status.result.kind !== 1) return { done: true, value: status.result.reason };
    const failing = (info?.state?.checks ?? []).filter((c) => c.result !== undefined && c.result.kind !== 1).map((c) => c.name);
    return { done: false, observed: `failing: ${failing.join(', ') || 'none'}` };
  }, { timeoutMs, intervalMs: 100 });
}

/**
 * Starts an operation through the lbha CLI without waiting in the CLI (the lab runs each CLI
 * call with a 20 s limit), then follows it with `lbha operations ID` until it ends.
 */
export async function runOperation(lab: Lab, args: readonly string[]): Promise<{ state: string; message: string }> {
  const agents = agentsOf(lab);
  const started = await agents.cli([...args, '--json']);
  assert.equal(started.code, 0, `lbha ${args.join(' ')}: ${started.stderr}`);
  const id = (JSON.parse(started.stdout) as { operation: { id: string } }).operation.id;
  return waitFor(`operation ${id} (${args.join(' ')}) to finish`, async () => {
    const r = await agents.cli(['operations', id, '--json']);
    if (r.code !== 0) return { done: false, observed: r.stderr };
    const o = (JSON.parse(r.stdout) as { operation: { state: string; message: string } }).operation;
    return o.state === 'running' || o.state === 'pending' ? { done: false, observed: `${o.state}: ${o.message}` } : { done: true, value: o };
  }, { timeoutMs: 180_000, intervalMs: 250 });
}

/**
 * Drains `from`, the holder of `vipName`, with a client keeping one connection alive through
 * the move (a request every 20 ms): every request on it must be answered, by `from` even after
 * the VIP has moved to `to` (the connection handover), while new connections go to `to`. The
 * client lets go once it has had 50 answers after the move, and the drain, which waited for it,
 * ends. haproxy is reloaded by `from`'s agent after the move and closes the connection after an
 * answer: the client's next one goes to `to`.
 */
export async function drainWithKeptAliveClient(lab: Lab, vipName: string, from: LbNode, to: LbNode): Promise<void> {
  assert.deepEqual(await lab.holdersOf(vipName), [from], `${vipName} starts on ${from}`);
  const kept = await lab.startProbe(vipName, { intervalMs: 20, timeoutMs: 3000, keepAlive: true });
  const drain = runOperation(lab, ['drain', from, '--timeout', '30s', '--reason', 'e2e handover']);
  await lab.waitForHolder(vipName, to, { timeoutMs: 20_000 });
  const movedAt = Date.now();
  // With haproxy, also until the client has been answered by the new holder: the old holder's
  // agent counts the connections left every 500 ms once the VIP has gone and then reloads
  // haproxy, which took 1.85 s on a loaded machine (load 9-12), longer than 50 answers.
  const cutOver = lab.plan.proxy === 'haproxy';
  await waitFor('answers on the kept-alive connection after the move', async () => {
    const after = (await kept.records()).filter((r) => r.ok && r.t > movedAt + 500);
    const switched = !cutOver || after.some((r) => r.lb === to);
    return after.length >= 50 && switched ? { done: true, value: undefined } : { done: false, observed: `${after.length} answers${switched ? '' : `, none by ${to} yet`}` };
  }, { timeoutMs: 10_000 });
  const records = await kept.stop();
  assert.deepEqual(records.filter((r) => !r.ok).map((r) => `${new Date(r.t).toISOString()} ${r.error}`), [], 'no request on the kept-alive connection failed');
  const after = records.filter((r) => r.t > movedAt + 500);
  assert.ok(after.length >= 50, `requests on the kept-alive connection after the move (${after.length})`);
  if (lab.plan.proxy === 'haproxy') {
    // The old holder's agent reloads haproxy once the VIP has left: its old process closes the
    // connection after an answer, and the client's next connection is the new holder's.
    const order = records.map((r) => r.lb);
    const switched = order.indexOf(to);
    assert.ok(switched > 0 && order.slice(switched).every((lb) => lb === to), `the kept-alive client was answered by ${from}, then by ${to} only: ${[...new Set(order)].join(', ')}`);
    const log = readFileSync(agentsOf(lab).agentProcess(from)?.logFile ?? '', 'utf8');
    assert.match(log, /"event":"handover.closing"/, `the agent of ${from} reloaded haproxy to end the connection`);
  } else {
    assert.deepEqual([...new Set(after.map((r) => r.lb))], [from], 'the old holder answered the kept-alive connection after the move');
  }
  const d = await drain;
  assert.equal(d.state, 'succeeded', `drain ${from}: ${d.message}`);
  const fresh = await lab.request(vipName, 20, { intervalMs: 10 });
  assert.deepEqual([...new Set(fresh.map((r) => r.lb))], [to], 'new connections go to the new holder');
}

/** When, after `fromMs`, the client got the page for good: the end of its last request that did not get it (0: none). */
export function pageAgainMs(records: readonly ProbeRecord[], fromMs: number): number {
  const missed = records.filter((r) => r.t + r.ms >= fromMs && !(r.ok && r.status === 200));
  return Math.round(Math.max(0, ...missed.map((r) => r.t + r.ms - fromMs)));
}

/** Polls which node holds each VIP; a move or a moment without holder is remembered. */
export function watchHolders(lab: Lab): { stop(): Promise<Array<Record<string, LbNode[]>>> } {
  const seen: Array<Record<string, LbNode[]>> = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      seen.push(await lab.holders());
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return seen;
    },
  };
}

/** The first two `node.healthy` events after `fromSeq` (both LB nodes passing again), with their times; waits up to 15 s for them. */
export async function bothHealthyAgain(lab: Lab, fromSeq: number): Promise<Array<{ node: string; t: number }>> {
  return eventually(
    async () => {
      const ev = (await agentsOf(lab).api.listEvents(fromSeq)).filter((e) => e.type === 'node.healthy').map((e) => ({ node: e.node, t: Number(e.timeMs) }));
      return ev.length >= 2 ? ev : undefined;
    },
    'both nodes healthy again',
    { timeoutMs: 15_000 },
  );
}

/** The agent's log lines (JSON) as objects; `time` is epoch ms as a string. */
export async function agentLog(lab: Lab, node: LbNode): Promise<Array<{ event?: string; time?: string; msg?: string }>> {
  const text = await readFile(lab.logFile(`${node}-agent`), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      const o = JSON.parse(l) as { event?: string; time?: string; msg?: string };
      return { event: o.event, time: String(Date.parse(o.time ?? '')), msg: o.msg };
    });
}
