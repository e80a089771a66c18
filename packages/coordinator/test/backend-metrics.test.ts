// The lbha_backend_* samples of /metrics, from a pool view and a drift view as the control plane
// builds them: per node state, sessions, health and weight; disagreement; pool counts; drift.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BackendPoolView, ServerOnNode } from '../src/backends/backend-pool-view.js';
import type { DriftView } from '../src/backends/config-drift.js';
import { backendSamples } from '../src/metrics/backend-samples.js';
import { sampleNames } from '../src/metrics/metric-definitions.js';
import { find, parseExposition, value } from './support/exposition.js';

const on = (node: string, over: Partial<ServerOnNode> = {}): ServerOnNode => ({ node, live: true, reported: true, admin: 'ready', health: 'up', weight: 1, sessions: 0, check: '', ...over });

const POOL: BackendPoolView = {
  servers: [
    {
      cluster: 'web',
      pool: 'webserver',
      server: 'web1',
      address: '192.168.50.22:80',
      managed: true,
      desiredAdmin: 'drain',
      desiredWeight: null,
      nodes: [on('lb1', { admin: 'drain', sessions: 3 }), on('lb2', { admin: 'ready', sessions: 7, health: 'unknown' })],
      disagreement: 'lb2 runs it ready, wanted drain',
      healthy: false,
    },
    {
      cluster: 'web',
      pool: 'webserver',
      server: 'web2',
      address: '192.168.50.23:80',
      managed: true,
      desiredAdmin: 'ready',
      desiredWeight: null,
      // lb2's agent is away: nothing of it is exported.
      nodes: [on('lb1', { weight: 5, health: 'down' }), on('lb2', { live: false })],
      disagreement: '',
      healthy: false,
    },
  ],
  pools: [{ cluster: 'web', pool: 'webserver', healthy: 0, minHealthy: 1, servers: ['web1', 'web2'] }],
};

const DRIFT: DriftView = {
  cluster: 'web',
  drift: true,
  message: 'lb2 differs from lb1 in /etc/nginx/nginx.conf',
  nodes: [
    { node: 'lb1', configDigest: 'a', filesDigest: '', files: [], differs: '', error: '' },
    { node: 'lb2', configDigest: 'b', filesDigest: '', files: [], differs: 'differs from lb1 in /etc/nginx/nginx.conf', error: '' },
    { node: 'lb3', configDigest: '', filesDigest: '', files: [], differs: '', error: 'agent not connected' },
  ],
};

describe('backend pool metrics', () => {
  const s = parseExposition(backendSamples([{ pool: POOL, drift: DRIFT }]));

  it('exports each server as every live node runs it', () => {
    const web1 = { cluster: 'web', pool: 'webserver', server: 'web1' };
    assert.equal(value(s, 'lbha_backend_server_state', { ...web1, node: 'lb1', state: 'drain' }), 1);
    assert.equal(value(s, 'lbha_backend_server_state', { ...web1, node: 'lb1', state: 'ready' }), 0);
    assert.equal(value(s, 'lbha_backend_server_state', { ...web1, node: 'lb2', state: 'ready' }), 1);
    assert.equal(value(s, 'lbha_backend_server_sessions', { ...web1, node: 'lb1' }), 3);
    assert.equal(value(s, 'lbha_backend_server_sessions', { ...web1, node: 'lb2' }), 7);
    assert.equal(value(s, 'lbha_backend_server_weight', { server: 'web2', node: 'lb1' }), 5);
    assert.equal(value(s, 'lbha_backend_server_up', { server: 'web2', node: 'lb1' }), 0);
    // Unknown health (nginx does not check) and an agent that is away export nothing.
    assert.deepEqual(find(s, 'lbha_backend_server_up', { server: 'web1', node: 'lb2' }), []);
    assert.deepEqual(find(s, 'lbha_backend_server_sessions', { server: 'web2', node: 'lb2' }), []);
  });

  it('flags disagreement, counts the pool and says which node drifts', () => {
    assert.equal(value(s, 'lbha_backend_server_disagreement', { server: 'web1' }), 1);
    assert.equal(value(s, 'lbha_backend_server_disagreement', { server: 'web2' }), 0);
    assert.equal(value(s, 'lbha_backend_pool_healthy_servers', { cluster: 'web', pool: 'webserver' }), 0);
    assert.equal(value(s, 'lbha_backend_pool_min_healthy_servers', { cluster: 'web', pool: 'webserver' }), 1);
    assert.equal(value(s, 'lbha_backend_config_drift', { cluster: 'web' }), 1);
    assert.equal(value(s, 'lbha_backend_config_differs', { node: 'lb2' }), 1);
    assert.equal(value(s, 'lbha_backend_config_differs', { node: 'lb1' }), 0);
    assert.deepEqual(find(s, 'lbha_backend_config_differs', { node: 'lb3' }), []);
  });

  it('exports only names of the catalog', () => {
    const names = sampleNames();
    for (const x of s) assert.ok(names.has(x.name), x.name);
  });
});
