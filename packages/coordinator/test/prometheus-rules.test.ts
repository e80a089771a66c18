// The Prometheus side of deploy/: alert rules and their unit tests, the example scrape config,
// and the coordinator's real /metrics output, each checked by promtool.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '@lbha/shared';
import { CoordinatorMetrics } from '../src/metrics/coordinator-metrics.js';
import { CoordinatorServer } from '../src/server.js';
import { parseExposition, value } from './support/exposition.js';
import { buildFleet, fakeSession, hello, instance, snapshot } from './support/fake-fleet.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const PROM_DIR = join(ROOT, 'deploy/prometheus');

function findPromtool(): string | undefined {
  for (const dir of ['/usr/bin', ...(process.env['PATH'] ?? '').split(delimiter)]) {
    const p = join(dir, 'promtool');
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

const PROMTOOL = findPromtool();
const skip = PROMTOOL ? false : 'promtool is not installed (Debian package "prometheus"; scripts/install-deps.sh installs it)';

function promtool(args: readonly string[], input?: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(PROMTOOL as string, [...args], { cwd: PROM_DIR, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      // On a non-zero exit, err.code is the exit status.
      const status = (err as { code?: unknown } | null)?.code;
      resolve({ code: err ? (typeof status === 'number' ? status : 1) : 0, out: `${stdout}${stderr}` });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

describe('promtool', { skip }, () => {
  it('accepts the alert rules', async () => {
    const r = await promtool(['check', 'rules', 'lbha-alerts.yml']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /SUCCESS: 26 rules found/);
  });

  it('passes the alert rules unit tests', async () => {
    const r = await promtool(['test', 'rules', 'tests/lbha-alerts.test.yml', 'tests/lbha-drill-alerts.test.yml']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /SUCCESS/);
  });

  it('accepts the example scrape config', async () => {
    const r = await promtool(['check', 'config', 'prometheus.yml']);
    assert.equal(r.code, 0, r.out);
  });

  it('finds nothing to lint in the /metrics of 2,000 nodes', async () => {
    const fleet = buildFleet(1000);
    const metrics = new CoordinatorMetrics({ registry: fleet.registry, placementView: () => fleet.placement });
    const { body } = await metrics.render();
    metrics.close();
    const r = await promtool(['check', 'metrics'], body);
    assert.equal(r.code, 0, r.out.slice(0, 2000));
  });

  describe("a running coordinator's /metrics", () => {
    const dir = mkdtempSync(join(tmpdir(), 'lbha-promtool-'));
    let server: CoordinatorServer;
    before(async () => {
      server = new CoordinatorServer(
        {
          id: 'c1',
          grpc: { listen: ['127.0.0.1:0'], maxMessageBytes: 4 * 1024 * 1024 },
          http: { listen: '127.0.0.1:0' },
          tls: { insecure: true },
          stateDir: dir,
          heartbeat: { interval: 1000, staleAfter: 3000 },
          log: { level: 'info' },
          webhooks: [],
        } as never,
        silentLogger(),
      );
      await server.start();
    });
    after(async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('passes promtool check metrics, with a failover counted', async () => {
      const reg = server.registry;
      for (const [i, node] of ['lb1', 'lb2'].entries()) {
        reg.attach(hello(node, 'web'), fakeSession(node));
        reg.setSnapshot(node, node, snapshot([instance('vip-a', i === 0 ? 'master' : 'backup', 1000)]));
      }
      reg.setSnapshot('lb1', 'lb1', snapshot([instance('vip-a', 'fault', 2000)], { healthy: false }));
      reg.setSnapshot('lb2', 'lb2', snapshot([instance('vip-a', 'master', 2060)]));
      const res = await fetch(`${server.http?.url}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const body = await res.text();
      const samples = parseExposition(body);
      assert.equal(value(samples, 'lbha_failover_duration_seconds_count', { reason: 'health' }), 1);
      assert.equal(value(samples, 'lbha_vip_holder', { vip: 'vip-a', node: 'lb2' }), 1);
      const r = await promtool(['check', 'metrics'], body);
      assert.equal(r.code, 0, r.out);
    });
  });
});
