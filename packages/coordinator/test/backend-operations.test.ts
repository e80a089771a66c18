// The backend pool over real gRPC with fake agents that run the wanted server states they are
// sent: the pool as one thing (agreement, disagreement, healthy counts), drain/undrain/disable/
// weight operations step by step, the minimum-healthy interlock, refusals by an agent, cancel,
// resuming after a coordinator restart, and configuration drift.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import { pbBackends, type BackendServer } from '@lbha/shared';
import { pbControl } from '@lbha/shared/control';
import { eventually } from '@lbha/test-support';
import { Harness, LB1, LB2, SEED1 } from './support/coordinator-harness.js';

const BACKENDS = `
    backends:
      min_healthy: 1
      report_interval: 1s
      pools:
        - name: webserver
          servers:
            - { name: web1, address: "192.168.50.22:80", max_fails: 3, fail_timeout: 5s }
            - { name: web2, address: "192.168.50.23:80", max_fails: 3, fail_timeout: 5s }
        - name: slow
          min_healthy: 0
          servers:
            - { name: web1, address: "192.168.50.22:8080" }
            - { name: web2, address: "192.168.50.23:8080" }
      drift:
        ignore: [pid]
`;
const SPEC = `${SEED1.trimEnd()}\n${BACKENDS}`;

function servers(): BackendServer[] {
  const s = (pool: string, server: string, address: string): BackendServer => ({ pool, server, address, admin: 'ready', health: 'unknown', weight: 1, sessions: 0, check: '', managed: true });
  return [s('webserver', 'web1', '192.168.50.22:80'), s('webserver', 'web2', '192.168.50.23:80'), s('slow', 'web1', '192.168.50.22:8080'), s('slow', 'web2', '192.168.50.23:8080')];
}

type Op = pbControl.Operation;
const A = pbControl.BackendAction;
const ADMIN = pbBackends.BackendAdminState;

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

async function pool(): Promise<Harness> {
  const hh = await Harness.start();
  await hh.applySpec(SPEC);
  await hh.agent(LB1, { backends: servers() });
  await hh.agent(LB2, { backends: servers() });
  await eventually(async () => (await list(hh)).servers.every((s) => s.nodes.every((n) => n.reported)), 'both agents report the pool');
  return hh;
}

const list = (hh: Harness) => hh.call<pbControl.ListBackendsResponse>('listBackends', { cluster: 'web' });

function change(hh: Harness, action: pbControl.BackendAction, server: string, extra: Partial<pbControl.ChangeBackendServerRequest> = {}): Promise<Op> {
  return hh.call<pbControl.ChangeBackendServerResponse>('changeBackendServer', { cluster: 'web', server, action, timeoutMs: 5000, force: false, reason: 'deploy', ...extra }).then((r) => r.operation as Op);
}

async function finished(hh: Harness, id: string): Promise<Op> {
  return eventually(async () => {
    const op = (await hh.call<pbControl.GetOperationResponse>('getOperation', { id })).operation;
    return op && ['succeeded', 'failed', 'cancelled'].includes(op.state) ? op : undefined;
  }, `operation ${id} to finish`, 15_000);
}

function refusal(p: Promise<unknown>): Promise<ServiceError> {
  return p.then(
    () => assert.fail('expected a refusal'),
    (e: ServiceError) => e,
  );
}

const on = (r: pbControl.ListBackendsResponse, pool: string, server: string) => r.servers.find((s) => s.pool === pool && s.server === server) as pbControl.BackendServerInfo;

describe('the backend pool over gRPC', () => {
  it('shows every server on every LB node, agreeing, with each pool\'s healthy count', async () => {
    h = await pool();
    const r = await list(h);
    assert.deepEqual(r.servers.map((s) => `${s.pool}/${s.server} ${s.address}`), ['webserver/web1 192.168.50.22:80', 'webserver/web2 192.168.50.23:80', 'slow/web1 192.168.50.22:8080', 'slow/web2 192.168.50.23:8080']);
    assert.ok(r.servers.every((s) => s.disagreement === '' && s.desiredAdmin === ADMIN.BACKEND_ADMIN_STATE_READY && s.nodes.map((n) => n.node).join() === `${LB1},${LB2}`));
    assert.deepEqual(r.pools.map((p) => [p.pool, p.healthy, p.minHealthy]), [['webserver', 2, 1], ['slow', 2, 0]]);
    assert.deepEqual(r.configs.map((c) => [c.cluster, c.drift]), [['web', false]]);
    // Someone drains web2 by hand on one node: the nodes disagree, and the pool has one healthy server.
    h.agents.get(LB2)?.setServer('webserver', 'web2', { admin: 'drain' });
    const after = await eventually(async () => {
      const x = await list(h as Harness);
      return on(x, 'webserver', 'web2').disagreement ? x : undefined;
    }, 'the disagreement to show');
    assert.equal(on(after, 'webserver', 'web2').disagreement, `state: ${LB1} ready; ${LB2} drain`);
    assert.equal(after.pools.find((p) => p.pool === 'webserver')?.healthy, 1);
  });

  it('drains a server on every LB node, waits for its sessions, and undrains it', async () => {
    h = await pool();
    h.agents.get(LB1)?.setSessions('webserver', 'web1', 2);
    const started = await change(h, A.BACKEND_ACTION_DRAIN, 'web1');
    assert.equal(started.kind, 'backend_drain');
    assert.equal(started.server, 'web1');
    const waiting = await eventually(async () => {
      const op = (await h?.call<pbControl.GetOperationResponse>('getOperation', { id: started.id }))?.operation;
      return op?.steps.some((s) => s.name === 'sessions' && s.state === 'running') && op.activeConnections === 2 ? op : undefined;
    }, 'the drain to wait for the sessions of web1');
    assert.match(waiting.message, new RegExp(`2 sessions left \\(${LB1} 2\\)`));
    const r = await list(h);
    for (const pool of ['webserver', 'slow']) {
      assert.equal(on(r, pool, 'web1').desiredAdmin, ADMIN.BACKEND_ADMIN_STATE_DRAIN);
      assert.deepEqual(on(r, pool, 'web1').nodes.map((n) => n.admin), [ADMIN.BACKEND_ADMIN_STATE_DRAIN, ADMIN.BACKEND_ADMIN_STATE_DRAIN]);
    }
    h.agents.get(LB1)?.setSessions('webserver', 'web1', 0);
    const op = await finished(h, started.id);
    assert.equal(op.state, 'succeeded', op.message);
    assert.deepEqual(op.steps.map((s) => [s.name, s.state]), [['intent', 'succeeded'], ['apply', 'succeeded'], ['sessions', 'succeeded']]);
    assert.match(op.steps[0]?.message ?? '', /webserver\/web1: ready -> drain, slow\/web1: ready -> drain/);
    assert.ok(h.events().some((e) => e.type === 'backend.state_changed' && e.message === 'webserver/web1: ready -> drain' && e.reason === 'deploy'));
    assert.ok(h.events().some((e) => e.type === 'backend_drain.succeeded'));

    const undrain = await finished(h, (await change(h, A.BACKEND_ACTION_UNDRAIN, 'web1')).id);
    assert.equal(undrain.state, 'succeeded', undrain.message);
    assert.deepEqual(undrain.steps.map((s) => s.name), ['intent', 'apply']);
    assert.deepEqual(on(await list(h), 'webserver', 'web1').nodes.map((n) => n.admin), [ADMIN.BACKEND_ADMIN_STATE_READY, ADMIN.BACKEND_ADMIN_STATE_READY]);
  });

  it('refuses a drain that would leave a pool below its minimum of healthy servers, unless forced', async () => {
    h = await pool();
    assert.equal((await finished(h, (await change(h, A.BACKEND_ACTION_DRAIN, 'webserver/web1')).id)).state, 'succeeded');
    const changes = () => (h as Harness).events().filter((x) => x.type === 'backend.state_changed').length;
    const before = changes();
    const e = await refusal(change(h, A.BACKEND_ACTION_DRAIN, 'web2'));
    assert.equal(e.code, status.FAILED_PRECONDITION);
    assert.match(e.details, /minimum-healthy interlock: pool webserver would keep 0 healthy servers, fewer than its minimum of 1 \(web1 not healthy \(wanted drain\)\)\. Use --force/);
    assert.equal(changes(), before, 'a refusal changes nothing');
    assert.equal(on(await list(h), 'webserver', 'web2').desiredAdmin, ADMIN.BACKEND_ADMIN_STATE_READY);
    // The slow pool allows 0 healthy servers: draining web2 there alone is fine.
    assert.equal((await finished(h, (await change(h, A.BACKEND_ACTION_DRAIN, 'slow/web2')).id)).state, 'succeeded');
    const forced = await finished(h, (await change(h, A.BACKEND_ACTION_DISABLE, 'webserver/web2', { force: true })).id);
    assert.equal(forced.state, 'succeeded', forced.message);
    assert.equal(on(await list(h), 'webserver', 'web2').desiredAdmin, ADMIN.BACKEND_ADMIN_STATE_MAINT);
  });

  it('fails at once when an agent cannot apply it, naming the node and why; what is wanted stays', async () => {
    h = await pool();
    (h.agents.get(LB2) as { backendError: string }).backendError = 'nginx refused the managed includes: invalid parameter "backup"';
    const op = await finished(h, (await change(h, A.BACKEND_ACTION_DRAIN, 'web1')).id);
    assert.equal(op.state, 'failed');
    assert.match(op.message, new RegExp(`${LB2} could not apply it: nginx refused the managed includes: invalid parameter "backup"; webserver/web1 stays wanted drain`));
    assert.equal(on(await list(h), 'webserver', 'web1').desiredAdmin, ADMIN.BACKEND_ADMIN_STATE_DRAIN);
  });

  it('sets and resets a weight; refuses weight 0 for nginx and bad or unknown servers', async () => {
    h = await pool();
    const set = await finished(h, (await change(h, A.BACKEND_ACTION_WEIGHT, 'webserver/web2', { weight: 5 })).id);
    assert.equal(set.state, 'succeeded', set.message);
    assert.equal(on(await list(h), 'webserver', 'web2').desiredWeight, 5);
    assert.deepEqual(on(await list(h), 'webserver', 'web2').nodes.map((n) => n.weight), [5, 5]);
    const reset = await finished(h, (await change(h, A.BACKEND_ACTION_WEIGHT, 'webserver/web2')).id);
    assert.equal(reset.state, 'succeeded', reset.message);
    assert.equal(on(await list(h), 'webserver', 'web2').desiredWeight, undefined);
    const zero = await refusal(change(h, A.BACKEND_ACTION_WEIGHT, 'web2', { weight: 0 }));
    assert.equal(zero.code, status.INVALID_ARGUMENT);
    assert.match(zero.details, /weight: must be a whole number from 1 to 1000 for nginx \(nginx has no weight 0/);
    const unknown = await refusal(change(h, A.BACKEND_ACTION_DRAIN, 'web9'));
    assert.equal(unknown.code, status.NOT_FOUND);
    assert.match(unknown.details, /no server web9 in the pools of cluster web \(servers: web1, web2\)/);
    const bad = await refusal(change(h, A.BACKEND_ACTION_DRAIN, 'web1;reboot'));
    assert.equal(bad.code, status.INVALID_ARGUMENT);
    const noAction = await refusal(change(h, A.BACKEND_ACTION_UNSPECIFIED, 'web1'));
    assert.equal(noAction.code, status.INVALID_ARGUMENT);
  });

  it('does not read an LB node whose agent stopped reporting as one without sessions', async () => {
    h = await pool();
    h.agents.get(LB2)?.setSessions('webserver', 'web1', 3);
    const started = await change(h, A.BACKEND_ACTION_DRAIN, 'web1', { timeoutMs: 60_000 });
    const get = async () => (await (h as Harness).call<pbControl.GetOperationResponse>('getOperation', { id: started.id })).operation as Op;
    await eventually(async () => (await get()).activeConnections === 3, 'the drain to wait for the sessions on lb2');
    // lb2's agent goes away with its sessions uncounted: its proxy may still be serving them.
    h.agents.get(LB2)?.disconnect();
    const unknown = await eventually(async () => {
      const op = await get();
      return /not reporting/.test(op.message) ? op : undefined;
    }, 'the drain to say lb2 is not reporting');
    assert.equal(unknown.state, 'running', unknown.message);
    assert.match(unknown.message, new RegExp(`sessions unknown \\(${LB2} not reporting\\)`));
    // Back with no sessions left: now the drain is done.
    h.agents.get(LB2)?.setSessions('webserver', 'web1', 0);
    await h.agents.get(LB2)?.connect();
    const op = await finished(h, started.id);
    assert.equal(op.state, 'succeeded', op.message);
  });

  it('is cancellable while it waits for sessions, rolling nothing back', async () => {
    h = await pool();
    h.agents.get(LB2)?.setSessions('slow', 'web1', 4);
    const started = await change(h, A.BACKEND_ACTION_DRAIN, 'web1', { timeoutMs: 60_000 });
    await eventually(async () => (await h?.call<pbControl.GetOperationResponse>('getOperation', { id: started.id }))?.operation?.steps.some((s) => s.name === 'sessions' && s.state === 'running'), 'the sessions wait');
    const c = (await h.call<pbControl.CancelOperationResponse>('cancelOperation', { id: started.id, reason: 'changed my mind' })).operation as Op;
    assert.equal(c.state, 'cancelled');
    assert.match(c.message, /nothing was rolled back: webserver\/web1 is wanted drain, slow\/web1 is wanted drain/);
    assert.equal(on(await list(h), 'webserver', 'web1').desiredAdmin, ADMIN.BACKEND_ADMIN_STATE_DRAIN);
  });

  it('resumes after a coordinator restart without setting the wanted state twice', async () => {
    h = await pool();
    h.agents.get(LB1)?.setSessions('webserver', 'web1', 1);
    const started = await change(h, A.BACKEND_ACTION_DRAIN, 'webserver/web1', { timeoutMs: 60_000 });
    await eventually(async () => (await h?.call<pbControl.GetOperationResponse>('getOperation', { id: started.id }))?.operation?.steps.some((s) => s.name === 'sessions' && s.state === 'running'), 'the sessions wait');
    const hh = h;
    // The event log outlives the restart: only what comes after it counts.
    const before = hh.events().at(-1)?.seq ?? 0;
    await hh.restartCoordinator();
    for (const a of hh.agents.values()) await a.connect();
    hh.agents.get(LB1)?.setSessions('webserver', 'web1', 0);
    const op = await finished(hh, started.id);
    assert.equal(op.state, 'succeeded', op.message);
    assert.equal(hh.events().filter((e) => e.seq > before && e.type === 'backend.state_changed').length, 0, 'the restarted coordinator did not set it again');
    assert.ok(hh.events().some((e) => e.type === 'backend_drain.resumed'));
    assert.equal(on(await list(hh), 'webserver', 'web1').desiredAdmin, ADMIN.BACKEND_ADMIN_STATE_DRAIN);
  });

  it('flags configuration drift between the LB nodes, on the nodes and with an event, until they agree again', async () => {
    h = await pool();
    h.agents.get(LB2)?.setConfigDigest('edited by hand');
    const drift = await eventually(async () => (await list(h as Harness)).configs.find((c) => c.drift), 'the drift to show');
    assert.match(drift.message, new RegExp(`${LB2} differs from ${LB1} in /etc/nginx/nginx.conf|${LB1} differs from ${LB2} in /etc/nginx/nginx.conf`));
    const nodes = (await h.call<pbControl.ListNodesResponse>('listNodes', { cluster: 'web' })).nodes;
    assert.ok(nodes.some((n) => /differs from/.test(n.configDrift)));
    await eventually(() => h?.events().some((e) => e.type === 'config.drift' && e.severity === 'warning'), 'the drift event');
    h.agents.get(LB2)?.setConfigDigest('same');
    await eventually(() => h?.events().some((e) => e.type === 'config.drift_resolved'), 'the drift to end');
    assert.equal((await list(h)).configs[0]?.drift, false);
  });
});
