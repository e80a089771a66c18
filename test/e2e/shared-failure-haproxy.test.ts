// The way out of a failure every node shares, on haproxy (seed 2: one VIP, lb1 master, lb2
// backup), with an http check through the proxy to the backends. haproxy marks a server that
// fails its checks DOWN and sends to it again only after `rise` good checks: the first at its
// next check (every `downinter` while DOWN), the others `fastinter` apart. Each node's haproxy
// checks on its own phase, so when the backends answer again one node's proxy may forward a
// `downinter` later than the other's. Here the phases are set (a reload of lb2's haproxy at a
// chosen moment) so that lb2's haproxy checks web1 first and lb1's about 1.5 s after it: lb1's
// check passes that much later. The coordinator must wait for it (the time haproxy's checks need,
// as lb1's agent reads them), not call lb1's failure its own and move the VIP to lb2 and back.
// Three clients in the client namespace watch it: fresh connections, a sequential client, and
// wrk's kept-alive connections (which do not retry); none may go unanswered or be reset.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually, waitFor } from '@lbha/test-support';
import { LB_STATUS_PORT, type Lab, type LbNode, type ProbeRecord } from '../lab/index.js';
import { NeighbourWatch } from '../lab/neighbour-watch.js';
import { agentsOf, bothHealthyAgain, nodeInfo, pageAgainMs, skipReason, useAgentLab, waitForBaseline, watchHolders } from './e2e-support.js';

/** The check settings this file gives both nodes' haproxy: DOWN servers checked every 1.9 s, then 100 ms apart. */
const CHECK = 'check inter 2s downinter 1900ms fastinter 100ms';
const DOWNINTER_MS = 1_900;
/** downinter + (rise - 1) x fastinter (rise 2): how long after a server answers haproxy may take to send to it again. */
const READMIT_MS = DOWNINTER_MS + 100;
/** What the lab adds to that: the request in flight at that moment, and a loaded machine's scheduling. */
const READMIT_ALLOWANCE_MS = 500;
/** How much later than lb2's haproxy lb1's checks web1 once the phases are set, within these bounds. */
const GAP_MS = { min: 1_300, max: 1_700 } as const;

const answered = (r: ProbeRecord): boolean => r.ok || r.status !== undefined;

const TABLE = 'lbha_e2e_backends_down';

/**
 * The web nodes refuse the LB nodes' connections to port 80 (as a stopped nginx does: a reset),
 * counting each LB node's connection attempts on web1. While haproxy holds a server DOWN it sends
 * it nothing but its checks, so each count is one check.
 */
async function refuseBackends(lab: Lab): Promise<void> {
  for (const web of ['web1', 'web2'] as const) {
    await lab.exec(web, 'nft', ['delete', 'table', 'inet', TABLE]).catch(() => undefined);
    await lab.exec(web, 'nft', ['add', 'table', 'inet', TABLE]);
    await lab.exec(web, 'nft', ['add', 'chain', 'inet', TABLE, 'in', '{ type filter hook input priority 0 ; }']);
    for (const lb of ['lb1', 'lb2'] as const) {
      await lab.exec(web, 'nft', ['add', 'rule', 'inet', TABLE, 'in', 'ip', 'saddr', lab.plan.lbs[lb].inner, 'tcp', 'dport', '80', 'counter', 'reject', 'with', 'tcp', 'reset']);
    }
  }
}

async function answerAgain(lab: Lab, web: 'web1' | 'web2'): Promise<void> {
  await lab.exec(web, 'nft', ['delete', 'table', 'inet', TABLE]).catch(() => undefined);
}

/** How many connection attempts web1 refused from lb1 and lb2. */
async function refusedOnWeb1(lab: Lab): Promise<{ lb1: number; lb2: number }> {
  const out = JSON.parse(await lab.exec('web1', 'nft', ['-j', 'list', 'chain', 'inet', TABLE, 'in'])) as { nftables: Array<{ rule?: { expr: Array<Record<string, unknown>> } }> };
  const counts = out.nftables.flatMap((x) => (x.rule ? [x.rule.expr.find((e) => 'counter' in e)?.counter as { packets: number } | undefined] : [])).map((c) => c?.packets ?? 0);
  return { lb1: counts[0] ?? 0, lb2: counts[1] ?? 0 };
}

/** The moments each LB node's haproxy checked web1 within `ms`, as seen by polling the counters. */
async function checkMoments(lab: Lab, ms: number): Promise<{ lb1: number[]; lb2: number[] }> {
  const out = { lb1: [] as number[], lb2: [] as number[] };
  let last = await refusedOnWeb1(lab);
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const now = await refusedOnWeb1(lab);
    const t = Date.now();
    if (now.lb1 > last.lb1) out.lb1.push(t);
    if (now.lb2 > last.lb2) out.lb2.push(t);
    last = now;
  }
  return out;
}

/** Until lb1's haproxy has checked web1 (the counter moved): the moment it was seen. */
async function nextCheckOf(lab: Lab, lb: LbNode, timeoutMs: number): Promise<number> {
  const start = (await refusedOnWeb1(lab))[lb];
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if ((await refusedOnWeb1(lab))[lb] > start) return Date.now();
  }
  throw new Error(`${lb}'s haproxy did not check web1 within ${timeoutMs} ms`);
}

/** haproxy's master-worker reload: a new worker, whose checks start when it does. */
async function reloadHaproxy(lab: Lab, node: LbNode): Promise<void> {
  const pid = await lab.proxyMasterPid(node);
  assert.ok(pid !== undefined, `haproxy runs on ${node}`);
  process.kill(pid, 'SIGUSR2');
}

describe("the way out of a failure every node shares, on haproxy: each node's readmission", { skip: skipReason, timeout: 10 * 60_000 }, () => {
  let lab: Lab;
  let throughSpec = '';
  useAgentLab('b', (l) => (lab = l), {
    afterRepair: async (l) => {
      for (const web of ['web1', 'web2'] as const) await answerAgain(l, web);
      const r = await agentsOf(l).cli(['spec', 'apply', throughSpec, '--reason', 'e2e: checks through the backends']);
      assert.equal(r.code, 0, r.stderr);
    },
  });
  before(async () => {
    const agents = agentsOf(lab);
    // The http check goes through the proxy to the backends (a 503 fails it).
    throughSpec = join(lab.runDir, 'cluster-through.yaml');
    const spec = readFileSync(agents.specFile, 'utf8');
    const through = spec.replace(`url: "http://127.0.0.1:${LB_STATUS_PORT}/healthz", interval: 500ms, timeout: 400ms`, `url: "http://127.0.0.1:80/", host: ${lab.plan.host}, interval: 200ms, timeout: 200ms`);
    assert.notEqual(through, spec, 'the lab spec has the http check this test changes');
    writeFileSync(throughSpec, through);
    const r = await agents.cli(['spec', 'apply', throughSpec, '--reason', 'e2e: checks through the backends']);
    assert.equal(r.code, 0, r.stderr);
    await waitForBaseline(lab);
  });
  after(async () => {
    if (lab === undefined) return;
    for (const web of ['web1', 'web2'] as const) await answerAgain(lab, web);
  });

  it('the node whose haproxy checks later passes 1.5 s after the other: its VIP stays, and the clients get the page again within downinter + fastinter', async () => {
    const agents = agentsOf(lab);
    const [vip] = lab.plan.vips as [(typeof lab.plan.vips)[number]];
    const mac: Record<LbNode, string> = { lb1: await lab.macOf('lb1'), lb2: await lab.macOf('lb2') };
    // Both nodes' haproxy with the settings above, and their agents' reports of it.
    for (const node of ['lb1', 'lb2'] as const) {
      const file = lab.proxyFiles(node).config;
      const text = readFileSync(file, 'utf8');
      const changed = text.replaceAll(' check inter 1s', ` ${CHECK}`);
      assert.notEqual(changed, text, "the lab's haproxy config has the server lines this test changes");
      writeFileSync(file, changed);
      await reloadHaproxy(lab, node);
    }
    try {
      const reported = await waitFor("both agents' reports of their haproxy's readmission", async () => {
        const r = await Promise.all((['lb1', 'lb2'] as const).map(async (n) => (await nodeInfo(lab, n))?.state?.backends?.readmitMs ?? 0));
        return r.every((x) => x === READMIT_MS) ? { done: true, value: r } : { done: false, observed: JSON.stringify(r) };
      }, { timeoutMs: 20_000, intervalMs: 250 });
      console.log(`readmission reported by lb1 and lb2: ${reported.join(', ')} ms`);
      await waitForBaseline(lab);

      // Every node fails: the web nodes refuse the LB nodes' connections.
      const afterSeq = Math.max(0, ...(await agents.api.listEvents()).map((e) => e.seq));
      await refuseBackends(lab);
      await eventually(async () => (await agents.api.listEvents(afterSeq)).find((e) => e.type === 'check.failing_everywhere'), 'check.failing_everywhere', { timeoutMs: 15_000 });
      await eventually(async () => /lb1\s+MASTER\s+has VIP\s+priority 26 = .*candidate of last resort/.test((await agents.cli(['vips', '--explain'])).stdout), 'lb1 a candidate of last resort for the VIP', { timeoutMs: 10_000 });

      // The phases: lb2's haproxy reloaded so that its checks of web1 (DOWN: every downinter)
      // come a moment after lb1's; web1 answering again just after one of lb1's checks then
      // reaches lb2's haproxy at its next check and lb1's about a downinter later.
      let gap = 0;
      for (let attempt = 1; attempt <= 4 && !(gap >= GAP_MS.min && gap <= GAP_MS.max); attempt++) {
        const lb1At = await nextCheckOf(lab, 'lb1', 5_000);
        // A new worker checks some 100 ms after the reload, again fastinter later, then every
        // downinter: aim lb2's checks some 350 ms after lb1's, time enough to let web1 answer
        // between the two.
        await new Promise((r) => setTimeout(r, Math.max(0, lb1At + DOWNINTER_MS + 150 - Date.now())));
        await reloadHaproxy(lab, 'lb2');
        await new Promise((r) => setTimeout(r, 1_000));
        const seen = await checkMoments(lab, 2 * DOWNINTER_MS + 200);
        const a = seen.lb1.at(-1);
        const b = seen.lb2.at(-1);
        if (a === undefined || b === undefined) continue;
        // lb2's next check after one of lb1's, and the gap from it to lb1's next one.
        const lb2After = (((b - a) % DOWNINTER_MS) + DOWNINTER_MS) % DOWNINTER_MS;
        gap = DOWNINTER_MS - lb2After;
        console.log(`attempt ${attempt}: lb1 checks web1 at ${seen.lb1.map((t) => t - (seen.lb1[0] ?? 0)).join(', ')} ms, lb2 at ${seen.lb2.map((t) => t - (seen.lb1[0] ?? 0)).join(', ')}: lb2 ${lb2After} ms after lb1, lb1 ${gap} ms after lb2`);
      }
      assert.ok(gap >= GAP_MS.min && gap <= GAP_MS.max, `the phases set: lb1's haproxy checks web1 ${gap} ms after lb2's`);

      const fromSeq = Math.max(0, ...(await agents.api.listEvents()).map((e) => e.seq));
      const watch = await NeighbourWatch.start(lab, [vip.address]);
      const fresh = await lab.startProbe('vip');
      const sequential = await lab.startProbe('vip', { sequential: true, timeoutMs: 300 });
      // Kept-alive connections from a client that does not retry: a reset or a stall shows here.
      const kept = lab.wrk('vip', { connections: 20, durationS: 10, timeoutS: 1, delayMs: 10, perConnection: true });
      kept.catch(() => undefined);
      const holders = watchHolders(lab);
      let backAt = 0;
      let healthy: Array<{ node: string; t: number }> = [];
      try {
        await nextCheckOf(lab, 'lb1', 5_000);
        await answerAgain(lab, 'web1');
        backAt = Date.now();
        healthy = await bothHealthyAgain(lab, fromSeq);
        // Whatever would move the VIP comes within the wait (under 5 s): look past it.
        await new Promise((r) => setTimeout(r, 4_000));
      } finally {
        await holders.stop();
        await fresh.stop();
        await sequential.stop();
        watch.stop();
      }
      const seen = await holders.stop();
      const records = { fresh: await fresh.stop(), sequential: await sequential.stop() };
      const wrk = await kept;
      const events = await agents.api.listEvents(fromSeq);
      const [first, second] = [...healthy].sort((x, y) => x.t - y.t) as [{ node: string; t: number }, { node: string; t: number }];
      console.log(`web1 answering again; ${first.node} healthy ${first.t - backAt} ms after that, ${second.node} ${second.t - first.t} ms after it`);
      for (const e of events.filter((x) => x.type.startsWith('check.') || ['placement.changed', 'vip.moved', 'vrrp.unplanned'].includes(x.type))) console.log(`  ${Number(e.timeMs) - first.t} ms: ${e.type}${e.node ? ` (${e.node})` : ''}: ${e.message}`);
      const away = watch.all().filter((c) => c.t >= backAt && c.mac !== undefined && c.mac !== mac.lb1);
      console.log(`client's entry for the VIP on lb2's MAC: ${away.map((c) => `${c.t - first.t} ms`).join(', ') || 'never'} (from ${first.node} passing)`);
      const pageAgain = { fresh: pageAgainMs(records.fresh, backAt), sequential: pageAgainMs(records.sequential, backAt) };
      console.log(`the page again for good, after web1 answered: fresh connections ${pageAgain.fresh} ms, sequential client ${pageAgain.sequential} ms (downinter + fastinter: at most ${READMIT_MS} ms)`);
      for (const [name, r] of Object.entries(records)) {
        const late = r.filter((x) => x.t >= backAt);
        console.log(`${name}: ${late.length} requests from web1 answering, ${late.filter((x) => x.status === 503).length} answered 503, ${late.filter((x) => !answered(x)).length} unanswered (${[...new Set(late.filter((x) => !answered(x)).map((x) => x.error))].join(', ') || '-'})`);
      }

      console.log(`wrk, 20 kept-alive connections to the VIP for 10 s: ${wrk.requests} requests, ${wrk.non2xx} non-2xx, errors: connect ${wrk.connectErrors}, read ${wrk.readErrors}, write ${wrk.writeErrors}, timeout ${wrk.timeouts}; the longest any connection went without an answer ${wrk.longestSilenceMs} ms`);

      assert.equal(first.node, 'lb2', "lb2's haproxy checked first");
      assert.equal(wrk.connectErrors + wrk.readErrors + wrk.writeErrors + wrk.timeouts, 0, 'no kept-alive connection failed');
      // wrk counts no error for a request never answered: a stalled connection shows only as silence.
      assert.ok(wrk.longestSilenceMs < 2_000, `no kept-alive connection stalled (the longest went ${wrk.longestSilenceMs} ms without an answer)`);
      assert.ok(wrk.non2xx > 0 && wrk.non2xx < wrk.requests, `wrk saw haproxy's 503s and then the page (${wrk.non2xx} of ${wrk.requests} non-2xx)`);
      assert.deepEqual(seen.filter((h) => JSON.stringify(h) !== JSON.stringify({ vip: ['lb1'] })), [], 'the VIP stayed on lb1, never without holder');
      assert.deepEqual(away.map((c) => c.t - first.t), [], "the client's entry never pointed at lb2");
      assert.deepEqual(events.filter((e) => ['vip.moved', 'placement.changed', 'vip.orphan', 'check.recovery_over'].includes(e.type)).map((e) => `${e.type}: ${e.message}`), []);
      const wait = events.find((e) => e.type === 'check.recovery_wait' && e.node === 'lb1');
      assert.match(wait?.message ?? '', /\(2000 ms of it for haproxy's checks\)$/, 'the wait has lb1 haproxy\'s readmission in it');
      for (const [name, r] of Object.entries(records) as Array<[keyof typeof pageAgain, ProbeRecord[]]>) {
        assert.deepEqual(r.filter((x) => x.t >= backAt && !answered(x)).map((x) => x.error), [], `${name}: no request went unanswered`);
        const tail = r.filter((x) => x.t >= second.t + 1000);
        assert.ok(tail.length > 0 && tail.every((x) => x.ok && x.status === 200), `${name}: the page once both nodes pass (${tail.filter((x) => !x.ok).length} of ${tail.length} not)`);
        assert.ok(pageAgain[name] <= READMIT_MS + READMIT_ALLOWANCE_MS, `${name}: the page again ${pageAgain[name]} ms after web1 answered: more than downinter + fastinter`);
      }
    } finally {
      for (const node of ['lb1', 'lb2'] as const) {
        lab.restoreProxyConfig(node);
        await reloadHaproxy(lab, node);
      }
      await answerAgain(lab, 'web1');
      await answerAgain(lab, 'web2');
    }
  });
});
