// The operator subcommands of `lbha` against a real coordinator (over gRPC) whose agents are
// the coordinator tests' fake agents: vips, nodes, drain/undrain, restart, operations, spec, events.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { foreignLines, handoverLines, readinessLines, runCli } from '@lbha/cli';
import { fakeProbeDrill, Harness, LB1, LB2, SEED1 } from '@lbha/coordinator/test-harness';
import { eventually } from '@lbha/test-support';

describe('lbha operator commands', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-cli-ops-'));
  let h: Harness;

  before(async () => {
    h = await Harness.seeded({ config: { drill: fakeProbeDrill([], 200) } });
  });

  after(async () => {
    await h.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function lbha(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await runCli([...args, '--insecure', '--coordinator', h.address], { stdout: (s) => (out += s), stderr: (s) => (err += s), env: {} });
    return { code, out, err };
  }

  it('lbha vips shows desired and actual holders and explains priorities', async () => {
    const r = await lbha('vips', '--explain');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^web\s+vip-28\s+192\.168\.20\.28\/24\s+51\s+nginx-lb01\s+nginx-lb01\s+OK\s/m);
    assert.match(r.out, /nginx-lb01\s+MASTER\s+has VIP\s+priority 150 = 100 base \+ 50 placement \(rank 0\)/);
    const json = JSON.parse((await lbha('vips', '--json')).out) as { vips: Array<{ name: string; desiredHolder: string; perNode: Array<{ state: string }> }> };
    assert.deepEqual(json.vips.map((v) => [v.name, v.desiredHolder]), [['vip-28', LB1], ['vip-29', LB2]]);
    assert.ok(json.vips[0]?.perNode.some((p) => p.state === 'master'));
  });

  it('lbha vips names the routers that are not nodes advertising a VIP\'s VRID', () => {
    const v = { cluster: 'web', name: 'vip-28', address: '192.168.20.28/24', vrid: 51, interface: 'eth1', homeNode: '', desiredHolder: LB1, actualHolders: [], ranking: [LB1, LB2], status: 'foreign', reason: '', group: '', perNode: [], handover: undefined, pin: undefined };
    assert.deepEqual(foreignLines({ ...v, foreignRouters: [] }), []);
    assert.deepEqual(foreignLines({ ...v, foreignRouters: [{ source: '192.168.20.50', priority: 200, seenBy: [LB1, LB2], lastSeenMs: 0 }] }), [
      `web/vip-28: 192.168.20.50 advertises VRID 51 with priority 200; it is not a node of the cluster (seen by ${LB1}, ${LB2})`,
    ]);
  });

  it('lbha vips says which VIP is moving with a handover and which node could not start one', () => {
    const base = { cluster: 'web', name: 'vip-28', address: '192.168.20.28/24', vrid: 51, interface: 'eth1', homeNode: '', desiredHolder: LB2, actualHolders: [LB2], ranking: [LB2, LB1], status: 'ok', reason: '', group: '', foreignRouters: [], pin: undefined };
    const node = (n: string, err = '') => ({ node: n, state: 0, vipPresent: false, effectivePriority: 0, priorityTerms: [], handover: undefined, handoverError: err, readiness: undefined });
    assert.deepEqual(handoverLines({ ...base, perNode: [node(LB1), node(LB2)], handover: undefined }), []);
    assert.match(
      handoverLines({ ...base, actualHolders: [LB1], perNode: [node(LB1), node(LB2)], handover: { fromNode: LB1, toNode: LB2, startedMs: 0, untilMs: 0 } })[0] ?? '',
      /^web\/vip-28: moving from /,
    );
    assert.deepEqual(
      handoverLines({ ...base, perNode: [node(LB1), node(LB2, 'nft refused the handover table')], handover: { fromNode: LB1, toNode: LB2, startedMs: 0, untilMs: Date.UTC(2026, 0, 1, 12, 0, 30) } }),
      [`web/vip-28: moved from ${LB1} to ${LB2}; ${LB1} answers its open connections until they end (at the latest 12:00:30 UTC)`, `web/vip-28: ${LB2} could not start its handover: nft refused the handover table`],
    );
    assert.deepEqual(
      handoverLines({ ...base, perNode: [{ ...node(LB1), handoverConnections: 50 }, node(LB2)], handover: { fromNode: LB1, toNode: LB2, startedMs: 0, untilMs: Date.UTC(2026, 0, 1, 12, 0, 30) } }),
      [`web/vip-28: moved from ${LB1} to ${LB2}; ${LB1} answers its 50 open connections until they end (at the latest 12:00:30 UTC)`],
    );
  });

  it('lbha vips names each node that would not serve a VIP, and why', () => {
    const base = { cluster: 'web', name: 'vip-28', address: '192.168.20.28/24', vrid: 51, interface: 'eth1', homeNode: '', desiredHolder: LB1, actualHolders: [LB1], ranking: [LB1, LB2], status: 'ok', reason: '', group: '', foreignRouters: [], pin: undefined, handover: undefined };
    const node = (n: string, kind?: number, reason = '') => ({ node: n, state: 0, vipPresent: false, effectivePriority: 0, priorityTerms: [], handover: undefined, handoverError: '', readiness: kind === undefined ? undefined : { vip: 'vip-28', result: { kind, reason }, sinceMs: 0, durationMs: 3 } });
    assert.deepEqual(readinessLines({ ...base, perNode: [node(LB1, 1), node(LB2)] }), [], 'ready, or not reported: nothing to say');
    assert.deepEqual(readinessLines({ ...base, perNode: [node(LB1, 1), node(LB2, 2, 'GET http://127.0.0.1:80/ (Host 192.168.20.28) answered 502')] }), [
      `web/vip-28: ${LB2} is not ready: GET http://127.0.0.1:80/ (Host 192.168.20.28) answered 502`,
    ]);
  });

  it('lbha cancel names what is wrong in one line', async () => {
    const none = await lbha('cancel');
    assert.equal(none.code, 2);
    assert.match(none.err, /cancel needs an operation ID/);
    const unknown = await lbha('cancel', 'drain-nope');
    assert.equal(unknown.code, 1);
    assert.equal(unknown.err.trim().split('\n').length, 1);
    assert.match(unknown.err, /NOT_FOUND: no operation drain-nope/);
  });

  it('lbha simulate shows each VIP before and after, and reads --link NODE:IF down', async () => {
    const r = await lbha('simulate', '--fail', LB1);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^nginx-lb01 fails: unhealthy$/m);
    assert.match(r.out, /^web\s+vip-28\s+nginx-lb01\s+nginx-lb02\s+MOVES\s+.*home node nginx-lb01 is unhealthy/m);
    assert.match(r.out, /^web\s+vip-29\s+nginx-lb02\s+nginx-lb02\s+home node$/m);
    const link = JSON.parse((await lbha('simulate', '--link', `${LB2}:eth2`, 'down', '--json')).out) as { vips: Array<{ after: string }> };
    assert.deepEqual(link.vips.map((v) => v.after), [LB1, LB1]);
    const bad = await lbha('simulate', '--link', `${LB2}:eth2`);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--link NODE:IF down/);
    const none = await lbha('simulate');
    assert.equal(none.code, 2);
    assert.match(none.err, /say what to simulate/);
  });

  it('lbha move and unpin; a refused move says why in one line', async () => {
    const refused = await lbha('move', 'vip-28', 'nginx-lb09');
    assert.equal(refused.code, 1);
    assert.match(refused.err, /node nginx-lb09 is not in cluster web/);
    const moved = await lbha('move', 'vip-28', LB2, '--pin', '--reason', 'cli test');
    assert.equal(moved.code, 0, moved.err);
    assert.match(moved.err, /move-vip: succeeded - vip-28 moved from nginx-lb01 to nginx-lb02/);
    const vips = await lbha('vips');
    assert.match(vips.out, /web\/vip-28: pinned to nginx-lb02 \(until lbha unpin\) by anonymous: cli test/);
    const un = await lbha('unpin', 'vip-28');
    assert.equal(un.code, 0, un.err);
    assert.match(un.out, /web\/vip-28: no longer held on nginx-lb02 by an operator; placement decides again/);
    await eventually(async () => (await lbha('vips')).out.includes('vip-28  192.168.20.28/24  51    nginx-lb01  nginx-lb01'), 'vip-28 back home');
  });

  it('lbha drill follows the steps and prints each VIP\'s figures; bad arguments change nothing', async () => {
    for (const [args, pattern] of [
      [['drill'], /drill needs a CLUSTER/],
      [['drill', 'web', 'extra'], /unexpected argument "extra"/],
      [['drill', 'web', '--timeout', 'soon'], /--timeout must be a duration/],
      [['drill', 'web', '--vip', ''], /--vip needs a VIP name/],
    ] as const) {
      const r = await lbha(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, pattern);
    }
    const unknown = await lbha('drill', 'web', '--vip', 'vip-99');
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /NOT_FOUND: VIP vip-99 is not in cluster web/);
    assert.equal((await lbha('operations', '--json')).out.includes('"kind": "drill"'), false, 'no drill was started');

    const r = await lbha('drill', 'web', '--timeout', '20s', '--reason', 'weekly');
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /vip-28\/to-nginx-lb02\/move-vip: succeeded - vip-28 moved from nginx-lb01 to nginx-lb02/);
    assert.match(r.err, /vip-29\/back-nginx-lb02\/unpin: succeeded - vip-29 home on nginx-lb02/);
    assert.match(r.out, /^drill web: succeeded - drill passed: /);
    assert.match(r.out, /^VIP\s+MOVE\s+PROBES\s+FAILED\s+LONGEST GAP\s+ANSWERED AFTER\s+RESULT$/m);
    assert.match(r.out, /^vip-28\s+nginx-lb01 -> nginx-lb02\s+\d+\s+0\s+\d+ ms\s+\d+ ms\s+passed$/m);
    assert.match(r.out, /^\s+nginx-lb02 -> nginx-lb01\s+\d+\s+0\s+\d+ ms\s+\d+ ms\s+on nginx-lb01$/m);
    await eventually(() => h.server.plane?.vips().every((v) => v.status === 'ok' && v.actualHolders.join() === (v.name === 'vip-28' ? LB1 : LB2)), 'VIPs home');
  });

  it('lbha nodes shows versions and held VIPs', async () => {
    const r = await lbha('nodes');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^nginx-lb01\s+web\s+active\s+connected\s+healthy\s+\d+\/\d+\s+vip-28/m);
  });

  it('lbha drain --wait shows progress and ends drained; the interlock refuses the last node with one line', async () => {
    const r = await lbha('drain', LB1, '--wait', '--timeout', '5s', '--reason', 'kernel update');
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /move-vips: succeeded - vip-28 moved to nginx-lb02/);
    assert.match(r.out, /^drain nginx-lb01: succeeded - nginx-lb01 drained \(operation drain-/);
    const refused = await lbha('drain', LB2);
    assert.equal(refused.code, 1);
    assert.equal(refused.err.split('\n').filter((l) => l !== '').length, 1);
    assert.match(refused.err, /^lbha: FAILED_PRECONDITION: refused by the safety interlock: nginx-lb02 is the last healthy active node/);
    const un = await lbha('undrain', LB1, '--wait');
    assert.equal(un.code, 0, un.err);
    await eventually(() => h.server.plane?.vips().every((v) => v.status === 'ok' && v.desiredHolder === (v.name === 'vip-28' ? LB1 : LB2)), 'VIPs back home');
  });

  it('lbha restart waits for drain, restart, health and undrain; lbha operations ID shows the steps', async () => {
    const r = await lbha('restart', LB2, 'nginx', '--timeout', '10s');
    assert.equal(r.code, 0, r.err);
    const id = /operation (restart-[a-z0-9-]+)\)/.exec(r.out)?.[1];
    assert.ok(id, r.out);
    const show = await lbha('operations', id);
    assert.equal(show.code, 0, show.err);
    for (const step of ['mode:draining', 'move-vips', 'connections', 'mode:drained', 'restart', 'healthy', 'mode:active']) {
      assert.match(show.out, new RegExp(`^${step}\\s+succeeded`, 'm'));
    }
    const list = await lbha('operations');
    assert.match(list.out, new RegExp(`^${id}\\s+restart\\s+nginx@nginx-lb02\\s+succeeded`, 'm'));
  });

  it('lbha reload exits 1 with the agent\'s config error', async () => {
    h.agents.get(LB1)!.opts.failReload = 'nginx';
    const r = await lbha('reload', LB1, 'nginx');
    assert.equal(r.code, 1);
    assert.match(r.err, /lbha: reload failed: reload of nginx on nginx-lb01 refused or failed .*unknown directive "bogus"/);
  });

  it('lbha spec validate, diff and apply', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, SEED1.replace('vrid: 52', 'vrid: 51'));
    const v = await lbha('spec', 'validate', bad);
    assert.equal(v.code, 1);
    assert.match(v.err, new RegExp(`^${bad.replace(/\//g, '\\/')}:\\d+:\\d+: clusters\\[0\\]\\.vips\\[1\\]\\.vrid: VRID 51 is already used`, 'm'));
    const next = join(dir, 'next.yaml');
    writeFileSync(next, SEED1.replace('failback: immediate', 'failback: never'));
    const d = await lbha('spec', 'diff', next);
    assert.equal(d.out, '~ cluster web: policy.failback: immediate -> never\n');
    const dry = await lbha('spec', 'apply', next, '--dry-run');
    assert.match(dry.out, /dry run: nothing applied \(running spec is version 1\)/);
    const applied = await lbha('spec', 'apply', next, '--expect-version', '1');
    assert.equal(applied.code, 0, applied.err);
    assert.match(applied.out, /applied spec version 2/);
    const show = await lbha('spec', 'show');
    assert.match(show.out, /^# spec version 2\n/);
    // A risky spec: said on stderr with file, line and field, by validate, diff and apply alike; applied all the same.
    const risky = join(dir, 'risky.yaml');
    writeFileSync(risky, `${SEED1.replace('failback: immediate', 'failback: never').trimEnd()}\n      - { name: direct, kind: http, url: "http://192.168.50.22/" }\n`);
    const warning = new RegExp(`^${risky.replace(/\//g, '\\/')}:\\d+:\\d+: warning: clusters\\[0\\]\\.checks\\[3\\]\\.url: cluster web, check direct: http://192\\.168\\.50\\.22/ goes to 192\\.168\\.50\\.22, which is not the node's proxy`, 'm');
    for (const args of [['validate'], ['diff'], ['apply', '--dry-run'], ['apply']]) {
      const r = await lbha('spec', args[0] as string, risky, ...args.slice(1));
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, warning, args.join(' '));
    }
    assert.match((await lbha('spec', 'validate', risky)).out, /is valid: 1 cluster, 2 VIPs, 1 warning \(/);
    assert.match((await lbha('spec', 'show')).out, /^# spec version 3\n/);
  });

  it('lbha events lists what happened', async () => {
    const r = await lbha('events', '--node', LB1);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /drain\.succeeded\s+web\/nginx-lb01\s+drain of nginx-lb01 succeeded/);
    assert.match(r.out, /node\.mode_changed\s+web\/nginx-lb01\s+nginx-lb01: active -> draining \(reason: kernel update/);
  });

  it('usage errors exit 2', async () => {
    assert.equal((await lbha('drain')).code, 2);
    assert.equal((await lbha('restart', LB1)).code, 2);
    assert.equal((await lbha('drain', LB1, '--timeout', 'soon')).code, 2);
    assert.equal((await lbha('spec', 'frobnicate', 'x')).code, 2);
  });
});
