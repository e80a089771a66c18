import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HEALTHY } from '@lbha/shared';
import { AgentMetrics } from '../src/agent-metrics.js';
import { httpProbe } from '../src/checks/http-probe.js';
import { startMetricsServer } from '../src/metrics-server.js';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('http probe over TLS', { skip: hasOpenssl ? false : 'openssl is not installed' }, () => {
  it('verifies the certificate unless told not to, and sends SNI from the Host header', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lbha-tls-'));
    dirs.push(dir);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=www.example.test', '-days', '1', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'ignore' });
    let sni: string | undefined;
    const server = createServer({ key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) }, (_req, res) => res.writeHead(200).end('ok'));
    server.on('secureConnection', (s) => (sni = (s as unknown as { servername?: string }).servername));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const base = { url, method: 'GET', host: 'www.example.test', expectStatus: 200, bodyContains: 'ok' };
    const signal = new AbortController().signal;
    try {
      assert.deepEqual(await httpProbe({ ...base, tlsVerify: false }).probe(signal), HEALTHY);
      assert.equal(sni, 'www.example.test');
      const verified = await httpProbe({ ...base, tlsVerify: true }).probe(signal);
      assert.equal(verified?.kind, 'unhealthy');
      assert.match((verified as { reason: string }).reason, /SELF_SIGNED|self.signed/i);
    } finally {
      server.close();
    }
  });
});

describe('metrics endpoint', () => {
  it('serves the agent registry on /metrics and nothing else', async () => {
    const m = new AgentMetrics({ defaultMetrics: false });
    m.check({ name: 'nginx-process', kind: 'process', result: HEALTHY, effect: 'fault', penalty: 0, sinceMs: 0, durationMs: 1, streak: 1 });
    m.transition('vip-28', 'master');
    const { server, port } = await startMetricsServer(m.registry, '127.0.0.1', 0);
    try {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(text, /^lbha_agent_check_healthy\{check="nginx-process",kind="process"\} 1$/m);
      assert.match(text, /^lbha_agent_vrrp_transitions_total\{instance="vip-28",state="master"\} 1$/m);
      assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 404);
    } finally {
      server.close();
    }
  });
});
