import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BackendReport, DesiredBackends } from '../src/backends.js';
import { backendReportFromWire, backendReportToWire } from '../src/backend-wire.js';
import type { DesiredState, NodeSnapshot } from '../src/domain.js';
import { WireError } from '../src/errors.js';
import { applyDelta, desiredStateFromWire, desiredStateToWire, snapshotFromWire, snapshotToWire } from '../src/wire.js';
import { BackendAdminState, BackendReport as PbBackendReport, DesiredPoolServer as PbDesiredPoolServer } from '../generated/lbha/v1/backends.js';
import * as pbAgent from '../generated/lbha/v1/agent.js';

const desired: DesiredState = {
  version: 7,
  cluster: 'web',
  node: 'lb1',
  mode: 'active',
  keepalived: { advertIntMs: 100, unicast: false, unicastSrc: '', unicastPeers: [], authPass: '', vrrpVersion: 3, mcastGroup: '' },
  instances: [
    { name: 'vip-28', vrid: 51, interface: 'eth1', vip: '192.168.20.28/24', basePriority: 100, placementWeight: 100, rank: 0, trackInterfaces: ['eth2'], stepDown: false, group: '' },
  ],
  checks: [{ name: 'down-file', intervalMs: 200, timeoutMs: 100, fall: 1, rise: 1, effect: 'penalty', penalty: 50, params: { kind: 'maintenance_file', path: '/etc/keepalived/down' } }],
  proxyService: 'nginx',
};

describe('wire mapping', () => {
  it('round-trips a desired state', () => {
    assert.deepEqual(desiredStateFromWire(desiredStateToWire(desired), 'd'), desired);
  });

  it('encodes an instance with every optional field, and one with none, to bytes that decode to it again', () => {
    const full: DesiredState = {
      ...desired,
      instances: [
        {
          ...(desired.instances[0] as DesiredState['instances'][number]),
          authPass: 'secret',
          handover: { role: 'outgoing', peer: '192.168.20.12', untilMs: 1_700_000_000_000 },
          failoverPeer: '192.168.20.12',
          announce: 1_700_000_000_001,
          readiness: { kind: 'http', port: 443, connect: '127.0.0.1', host: 'www.example.com', path: '/healthz', intervalMs: 1000, timeoutMs: 500, fall: 2, rise: 3 },
        },
        { name: 'vip-29', vrid: 52, interface: 'eth1', vip: '192.168.20.29/24', basePriority: 100, placementWeight: 0, rank: 1, trackInterfaces: [], stepDown: true, group: 'g' },
      ],
    };
    for (const d of [desired, full]) {
      const bytes = pbAgent.DesiredState.encode(desiredStateToWire(d)).finish();
      assert.deepEqual(desiredStateFromWire(pbAgent.DesiredState.decode(bytes), 'd'), d);
    }
    // An instance without authPass keeps the cluster's (no field on the wire); '' turns it off.
    const off: DesiredState = { ...desired, instances: [{ ...(desired.instances[0] as DesiredState['instances'][number]), authPass: '' }] };
    const decoded = desiredStateFromWire(pbAgent.DesiredState.decode(pbAgent.DesiredState.encode(desiredStateToWire(off)).finish()), 'd');
    assert.equal(decoded.instances[0]?.authPass, '');
    assert.equal('authPass' in (desiredStateFromWire(pbAgent.DesiredState.decode(pbAgent.DesiredState.encode(desiredStateToWire(desired)).finish()), 'd').instances[0] ?? {}), false);
  });

  it('refuses an unknown enum value naming the field', () => {
    const w = desiredStateToWire(desired);
    w.mode = 42 as never;
    assert.throws(() => desiredStateFromWire(w, 'desiredState'), (e: unknown) => e instanceof WireError && e.path === 'desiredState.mode');
  });

  it('round-trips the backend pool both ways and refuses an unknown server state naming the field', () => {
    const backends: DesiredBackends = {
      pools: [{ name: 'webservers', servers: [{ name: 'web1', address: '192.168.50.21:80', weight: 2, maxFails: 1, failTimeoutMs: 0, maxConns: 0, backup: false }] }],
      intents: [
        { pool: 'webservers', server: 'web1', admin: 'drain' },
        { pool: 'webservers', server: 'web2', admin: 'maint', weight: 5 },
      ],
      reportIntervalMs: 1000,
      driftIgnore: ['worker_processes'],
      driftFiles: ['/etc/nginx/ssl.conf'],
    };
    const d: DesiredState = { ...desired, backends };
    assert.deepEqual(desiredStateFromWire(desiredStateToWire(d), 'd'), d);
    const report: BackendReport = {
      service: 'haproxy',
      servers: [{ pool: 'be', server: 'web1', address: '192.168.50.21:80', admin: 'ready', health: 'up', weight: 1, sessions: 3, check: 'L4OK', managed: true }],
      appliedVersion: 7,
      error: '',
      errorVersion: 0,
      configDigest: 'ab',
      filesDigest: '',
      configFiles: [{ path: '/etc/haproxy/haproxy.cfg', digest: 'ab' }],
      observeError: '',
      observedMs: 5,
      readmitMs: 2000,
    };
    const s: NodeSnapshot = { services: [], checks: [], instances: [], healthy: true, appliedVersion: 7, localMode: 'active', backends: report };
    assert.deepEqual(snapshotFromWire(snapshotToWire(s), 's'), s);
    const w = desiredStateToWire(d);
    assert.equal(w.backends?.intents[1]?.admin, BackendAdminState.BACKEND_ADMIN_STATE_MAINT);
    (w.backends?.intents[1] as { admin: number }).admin = 9;
    assert.throws(() => desiredStateFromWire(w, 'd'), (e: unknown) => e instanceof WireError && e.path === 'd.backends.intents[1].admin' && /unknown BackendAdminState value 9/.test(e.message));
  });

  it("reads an older agent's backend report, which has no readmission, as none", () => {
    const report: BackendReport = { service: 'haproxy', servers: [], appliedVersion: 0, error: '', errorVersion: 0, configDigest: '', filesDigest: '', configFiles: [], observeError: '', observedMs: 5, readmitMs: 0 };
    // The field is the last one written: without its tag (11, varint) and value, the bytes are what an older agent sends.
    const bytes = PbBackendReport.encode(backendReportToWire({ ...report, readmitMs: 1500 })).finish();
    assert.deepEqual([...bytes.subarray(-3)], [0x58, 0xdc, 0x0b]);
    const older = bytes.subarray(0, -3);
    assert.deepEqual(backendReportFromWire(PbBackendReport.decode(older), 'r'), report);
    assert.equal(backendReportFromWire(PbBackendReport.decode(bytes), 'r').readmitMs, 1500);
  });

  it("keeps max_fails and fail_timeout set to 0 apart from unset, on the wire too", () => {
    const servers = [
      { name: 'web1', address: '192.168.50.21:80', weight: 0, maxFails: 0, failTimeoutMs: 0, maxConns: 0, backup: false },
      { name: 'web2', address: '192.168.50.22:80', weight: 0, maxFails: null, failTimeoutMs: null, maxConns: 0, backup: false },
    ];
    const d: DesiredState = { ...desired, backends: { pools: [{ name: 'webservers', servers }], intents: [], reportIntervalMs: 1000, driftIgnore: [], driftFiles: [] } };
    assert.deepEqual(desiredStateFromWire(desiredStateToWire(d), 'd'), d);
    const bytes = (i: number) => PbDesiredPoolServer.encode(desiredStateToWire(d).backends?.pools[0]?.servers[i] as PbDesiredPoolServer).finish();
    // Set to 0: on the wire (fields 4 and 5, value 0), where an unset field is absent.
    assert.ok(Buffer.from(bytes(0)).includes(Buffer.from([0x20, 0x00, 0x28, 0x00])));
    assert.equal(PbDesiredPoolServer.decode(bytes(1)).maxFails, undefined);
    // What a coordinator that sent no 0 (these fields without presence) encodes for unset is the same as now.
    assert.deepEqual(Buffer.from(bytes(1)), Buffer.from(PbDesiredPoolServer.encode({ name: 'web2', address: '192.168.50.22:80', weight: 0, maxConns: 0, backup: false }).finish()));
  });

  it('refuses a priority out of range', () => {
    const w = desiredStateToWire(desired);
    (w.instances[0] as { basePriority: number }).basePriority = 300;
    assert.throws(() => desiredStateFromWire(w, 'd'), /d\.instances\[0\]\.basePriority: must be 1\.\.254/);
  });

  it('refuses a missing snapshot', () => {
    assert.throws(() => snapshotFromWire(undefined, 'snapshot.state'), /snapshot\.state: missing/);
  });

  it('applies deltas by name', () => {
    const s: NodeSnapshot = {
      services: [],
      checks: [
        { name: 'a', kind: 'tcp', result: { kind: 'healthy' }, effect: 'fault', penalty: 0, sinceMs: 1, durationMs: 1, streak: 1 },
        { name: 'b', kind: 'tcp', result: { kind: 'healthy' }, effect: 'fault', penalty: 0, sinceMs: 1, durationMs: 1, streak: 1 },
      ],
      instances: [],
      healthy: true,
      appliedVersion: 1,
      localMode: 'active',
    };
    assert.deepEqual(snapshotFromWire(snapshotToWire(s), 's'), s);
    const next = applyDelta(s, {
      services: [],
      checks: [{ name: 'a', kind: 'tcp', result: { kind: 'unhealthy', reason: 'refused' }, effect: 'fault', penalty: 0, sinceMs: 2, durationMs: 1, streak: 1 }],
      instances: [],
      removedChecks: ['b'],
      removedInstances: [],
      healthy: false,
    });
    assert.deepEqual(next.checks.map((c) => [c.name, c.result.kind]), [['a', 'unhealthy']]);
    assert.equal(next.healthy, false);
    assert.equal(next.appliedVersion, 1);
  });
});
