import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { freePorts, pickRange } from '../src/free-port.js';

test('pickRange: ports from 10000 up to just below the ephemeral range', () => {
  assert.deepEqual(pickRange('32768\t60999\n'), { low: 10_000, high: 32_767 });
  assert.deepEqual(pickRange('49152 65535'), { low: 10_000, high: 49_151 });
});

test('pickRange: an unreadable or cramped range falls back to 20000-32767', () => {
  assert.deepEqual(pickRange(undefined), { low: 20_000, high: 32_767 });
  assert.deepEqual(pickRange('garbage'), { low: 20_000, high: 32_767 });
  assert.deepEqual(pickRange('10500 60999'), { low: 20_000, high: 32_767 });
});

test('freePorts: distinct ports below the ephemeral range, each one listenable', async () => {
  const start = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  const ports = await freePorts(20);
  assert.equal(new Set(ports).size, 20);
  for (const port of ports) {
    assert.ok(port >= 10_000 && port < start, `${port} is below ${start}`);
    const s = createServer();
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});
