// Drain and undrain with a fake clock: the sleep between two looks advances the time, so a
// minute-long drain deadline takes no time at all.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { NodeMode, ServiceStats } from '@lbha/shared';
import { NodeCommands } from '../src/core/node-commands.js';
import type { LocalDrain } from '../src/core/evaluate.js';
import { JsonFile } from '../src/state/json-file.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const T0 = 1_700_000_000_000;

interface Node {
  /** Active connections per look (the last one repeats); undefined: the proxy reports none. */
  connections: number[] | undefined;
  /** VIPs still held per look (the last one repeats). */
  held: string[][];
  mode: NodeMode;
  /** Connections on VIPs that have left, per look (the last one repeats); none by default. */
  handedOver?: number[];
}

/** `dir`: the state directory of an earlier run (an agent restart). */
function commands(node: Node, dir = mkdtempSync(join(tmpdir(), 'lbha-cmd-'))) {
  dirs.push(dir);
  let now = T0;
  let looks = 0;
  const drainChanges: Array<LocalDrain | undefined> = [];
  const at = <T>(list: readonly T[]): T => list[Math.min(looks, list.length - 1)] as T;
  const stats = (): ServiceStats | undefined =>
    node.connections === undefined ? undefined : { activeConnections: at(node.connections), requestsTotal: 0, currentSessions: 0, serverStates: {} };
  const c: NodeCommands = new NodeCommands({
    services: {
      identity: () => ({ services: ['nginx', 'keepalived'] }),
      mainProxy: () => ({ stats: async () => stats() }),
      service: (name) =>
        name === 'nginx'
          ? {
              reload: async () => ({ ok: true, message: 'nginx reloaded' }),
              restart: async () => ({ ok: false, message: 'nginx config does not validate' }),
              validate: async () => ({ ok: false, output: 'nginx: [emerg] unknown directive "bogus"' }),
            }
          : undefined,
    },
    store: new JsonFile(join(dir, 'local-drain.json')),
    desired: () => ({ proxyService: 'nginx', mode: node.mode }),
    heldInstances: () => at(node.held),
    handoverConnections: () => at(node.handedOver ?? [0]),
    onDrainChange: async () => void drainChanges.push(c.localDrain),
    now: () => now,
    sleep: async (ms) => {
      now += ms;
      looks++;
    },
  });
  return { c, dir, drainChanges, elapsed: () => now - T0 };
}

describe('node commands: drain', () => {
  it('drains until no VIP is held and no connection is left', async () => {
    const { c, drainChanges, elapsed } = commands({ connections: [3, 2, 2, 0], held: [['vip-28'], []], mode: 'active' });
    const progress: Array<[number, string]> = [];
    const r = await c.drain(T0 + 60_000, (n, m) => progress.push([n, m]));
    assert.deepEqual(r, { state: 'succeeded', message: 'drained: 0 active connections after 0.8s, no VIP held', activeConnections: 0 });
    assert.equal(elapsed(), 750);
    assert.deepEqual(drainChanges, ['draining', 'drained']);
    assert.deepEqual(progress, [
      [3, 'draining: 3 active connections, holding vip-28'],
      [2, 'draining: 2 active connections, no VIP held'],
    ]);
  });

  it('waits for the connections left on VIPs that moved, which a reloaded haproxy\'s statistics do not count', async () => {
    const { c, elapsed } = commands({ connections: [0], held: [[]], handedOver: [4, 4, 1, 0], mode: 'active' });
    const progress: number[] = [];
    const r = await c.drain(T0 + 60_000, (n) => progress.push(n));
    assert.deepEqual(r, { state: 'succeeded', message: 'drained: 0 active connections after 0.8s, no VIP held', activeConnections: 0 });
    assert.equal(elapsed(), 750);
    assert.deepEqual(progress, [4, 1]);
  });

  it('reports progress at least every second while nothing changes', async () => {
    const { c } = commands({ connections: [5, 5, 5, 5, 5, 5, 5, 5, 5, 0], held: [[]], mode: 'active' });
    const progress: number[] = [];
    await c.drain(T0 + 60_000, (n) => progress.push(n));
    assert.deepEqual(progress, [5, 5, 5], 'at 0 s, 1 s and 2 s');
  });

  it('stops at the deadline and says what is left', async () => {
    const { c, elapsed } = commands({ connections: [2], held: [['vip-28']], mode: 'active' });
    const r = await c.drain(T0 + 10_000, () => undefined);
    assert.deepEqual(r, { state: 'succeeded', message: 'drain deadline reached after 10.0s: 2 active connections, still holding vip-28', activeConnections: 2 });
    assert.equal(elapsed(), 10_000);
    assert.equal(c.localDrain, 'drained');
  });

  it('without connection counts waits a second for stragglers once no VIP is held', async () => {
    const { c, elapsed } = commands({ connections: undefined, held: [['vip-28'], []], mode: 'active' });
    const r = await c.drain(T0 + 60_000, () => undefined);
    assert.equal(r.message, 'drained: active connections unknown (no statusUrl/statsSocket configured) after 1.0s, no VIP held');
    assert.equal(elapsed(), 1_000);
  });

  it('keeps the drain across a restart, and undrain clears it', async () => {
    const { c, dir } = commands({ connections: [0], held: [[]], mode: 'active' });
    await c.drain(T0 + 60_000, () => undefined);
    const restarted = commands({ connections: [0], held: [[]], mode: 'maintenance' }, dir).c;
    await restarted.load();
    assert.equal(restarted.localDrain, 'drained');
    assert.deepEqual(await restarted.undrain(), {
      state: 'succeeded',
      message: "undrained (was drained): placement stays lowest: the coordinator's mode for this node is maintenance",
      activeConnections: 0,
    });
    await restarted.load();
    assert.equal(restarted.localDrain, undefined);
  });

  it('a drain ends as soon as an undrain takes it back', async () => {
    const { c } = commands({ connections: [4], held: [['vip-28']], mode: 'active' });
    const drain = c.drain(T0 + 60_000, () => undefined);
    assert.equal((await c.undrain()).message, 'undrained (was draining): placement restored');
    assert.deepEqual(await drain, { state: 'failed', message: 'drain interrupted by undrain', activeConnections: 0 });
  });
});

describe('node commands: services', () => {
  it('reports an unknown service and what reload and restart say', async () => {
    const { c } = commands({ connections: [0], held: [[]], mode: 'active' });
    assert.deepEqual(await c.reload('haproxy'), { state: 'failed', message: 'unknown service haproxy', activeConnections: 0 });
    assert.deepEqual(await c.reload('nginx'), { state: 'succeeded', message: 'nginx reloaded', activeConnections: 0 });
    assert.deepEqual(await c.restart('nginx'), { state: 'failed', message: 'nginx config does not validate', activeConnections: 0 });
    assert.deepEqual(c.serviceNames(), ['nginx', 'keepalived']);
  });

  it('validates a service: the config test alone, its output in the message', async () => {
    const { c, drainChanges } = commands({ connections: [0], held: [[]], mode: 'active' });
    assert.deepEqual(await c.validate('nginx'), { state: 'failed', message: 'nginx: the configuration does not validate: nginx: [emerg] unknown directive "bogus"', activeConnections: 0 });
    assert.deepEqual(await c.validate('haproxy'), { state: 'failed', message: 'unknown service haproxy', activeConnections: 0 });
    assert.deepEqual(drainChanges, [], 'a validation changes no mode');
  });
});
