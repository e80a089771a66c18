import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as netServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DesiredInstance, DesiredState, ReadinessProbe, ReadinessReport } from '@lbha/shared';
import { waitFor } from '@lbha/test-support';
import { configFingerprint } from '../src/readiness/config-fingerprint.js';
import { ConfigValidity } from '../src/readiness/config-validity.js';
import { proxyRequest } from '../src/readiness/proxy-request.js';
import { readinessVerdict } from '../src/readiness/readiness-verdict.js';
import { StandbyReadiness } from '../src/readiness/standby-readiness.js';
import type { ValidationResult } from '../src/services/service-driver.js';

/** Waits until `pred` holds for what `read` returns, saying what was seen when it never does. */
function until<T>(read: () => T, pred: (v: T) => boolean, what: string): Promise<T> {
  return waitFor(what, () => {
    const v = read();
    return pred(v) ? { done: true, value: v } : { done: false, observed: JSON.stringify(v) };
  }, 5000);
}

const VALID: ValidationResult = { ok: true, output: 'syntax is ok' };
const BROKEN: ValidationResult = { ok: false, output: 'nginx: [emerg] unexpected end of file, expecting ";" or "}" in /etc/nginx/nginx.conf:7\nnginx: configuration file /etc/nginx/nginx.conf test failed' };

describe('readiness verdict', () => {
  it('is ready only with a valid config and an answer that is not a 5xx', () => {
    assert.deepEqual(readinessVerdict('nginx', VALID, { kind: 'status', status: 200 }, 'GET /'), { kind: 'healthy' });
    assert.deepEqual(readinessVerdict('nginx', VALID, { kind: 'status', status: 404 }, 'GET /'), { kind: 'healthy' });
    assert.deepEqual(readinessVerdict('nginx', VALID, { kind: 'accepted' }, 'connect'), { kind: 'healthy' });
    const bad = readinessVerdict('nginx', VALID, { kind: 'status', status: 502 }, 'GET /');
    assert.equal(bad.kind, 'unhealthy');
    assert.match(bad.kind === 'unhealthy' ? bad.reason : '', /answered 502: the proxy could not get an answer from the VIP's backends/);
    const refused = readinessVerdict('nginx', VALID, { kind: 'failed', error: 'ECONNREFUSED' }, 'GET /');
    assert.match(refused.kind === 'unhealthy' ? refused.reason : '', /GET \/: ECONNREFUSED/);
  });

  it('is not ready with a config on disk that does not validate, even while the proxy answers', () => {
    const r = readinessVerdict('nginx', BROKEN, { kind: 'status', status: 200 }, 'GET /');
    assert.equal(r.kind, 'unhealthy');
    assert.match(r.kind === 'unhealthy' ? r.reason : '', /nginx config on disk does not validate, so a reload or restart would fail: nginx: \[emerg\] unexpected end of file/);
  });
});

describe('a request through the proxy', () => {
  let server: Server;
  let port = 0;
  const seen: Array<{ host: string | undefined; url: string | undefined }> = [];
  let status = 200;
  before(async () => {
    server = createServer((req, res) => {
      seen.push({ host: req.headers.host, url: req.url });
      res.statusCode = status;
      res.end('x');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const probe = (over: Partial<ReadinessProbe> = {}): ReadinessProbe => ({ kind: 'http', port, connect: '127.0.0.1', host: 'www.example.com', path: '/ready?x=1', intervalMs: 100, timeoutMs: 1000, fall: 1, rise: 1, ...over });

  // Node's TCP handle for an address (what the agent uses), a net.Socket where node lacks it:
  // the same request and the same answers.
  for (const kind of ['handle', 'net'] as const) {
    it(`${kind}: sends the VIP's Host and path and reads the status`, async () => {
      status = 503;
      assert.deepEqual(await proxyRequest(probe(), new AbortController().signal, kind), { kind: 'status', status: 503 });
      assert.deepEqual(seen.at(-1), { host: 'www.example.com', url: '/ready?x=1' });
      status = 200;
      assert.deepEqual(await proxyRequest(probe(), new AbortController().signal, kind), { kind: 'status', status: 200 });
    });

    it(`${kind}: says what went wrong when nothing listens, and accepts a TCP connection for a TCP probe`, async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const deadPort = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      assert.deepEqual(await proxyRequest(probe({ port: deadPort }), new AbortController().signal, kind), { kind: 'failed', error: 'ECONNREFUSED' });
      assert.deepEqual(await proxyRequest(probe({ kind: 'tcp' }), new AbortController().signal, kind), { kind: 'accepted' });
    });

    it(`${kind}: an answer that is not HTTP, and a peer that closes without one`, async () => {
      for (const [answer, expected] of [
        ['SSH-2.0-OpenSSH_9.2\r\n', 'the answer is not HTTP'],
        ['', 'closed without an answer'],
      ] as const) {
        // The request is read (and dropped) so that the server sees the client's close.
        const raw = netServer((c) => c.resume().end(answer));
        await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
        try {
          const r = await proxyRequest(probe({ port: (raw.address() as AddressInfo).port }), new AbortController().signal, kind);
          assert.deepEqual(r, { kind: 'failed', error: expected });
        } finally {
          await new Promise<void>((resolve) => raw.close(() => resolve()));
        }
      }
    });

    it(`${kind}: an abort ends the request at once`, async () => {
      const silent = createServer(() => undefined);
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      try {
        const ac = new AbortController();
        const pending = proxyRequest(probe({ port: (silent.address() as AddressInfo).port, timeoutMs: 5000 }), ac.signal, kind);
        setTimeout(() => ac.abort(), 50);
        assert.deepEqual(await pending, { kind: 'failed', error: 'aborted' });
      } finally {
        silent.closeAllConnections();
        await new Promise<void>((resolve) => silent.close(() => resolve()));
      }
    });
  }

  it('gives up after its timeout on a proxy that accepts but never answers', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const r = await proxyRequest(probe({ port: (silent.address() as AddressInfo).port, timeoutMs: 150 }), new AbortController().signal);
      assert.deepEqual(r, { kind: 'failed', error: 'no answer within 150ms' });
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('reports each VIP\'s readiness, follows a config that breaks and heals, and one config test serves all VIPs', async () => {
    let config: ValidationResult = VALID;
    let validations = 0;
    let reports = 0;
    const r = new StandbyReadiness({
      validator: (s) => (s === 'nginx' ? async () => (validations++, config) : undefined),
      now: Date.now,
      onChange: () => void reports++,
    });
    const inst = (name: string): DesiredInstance => ({ name, vrid: 1, interface: 'eth0', vip: '10.0.0.1/24', basePriority: 100, placementWeight: 0, rank: 1, trackInterfaces: [], stepDown: false, group: '', readiness: probe({ intervalMs: 200, rise: 1 }) });
    const desired = { version: 1, cluster: 'web', node: 'a', mode: 'active', keepalived: { advertIntMs: 100, unicast: false, unicastSrc: '', unicastPeers: [], authPass: '', vrrpVersion: 3, mcastGroup: '' }, instances: [inst('v0'), inst('v1'), { ...inst('v2'), readiness: undefined }], checks: [], proxyService: 'nginx' } satisfies DesiredState;
    const kinds = (rep: ReadinessReport | undefined) => Object.fromEntries((rep?.vips ?? []).map((v) => [v.vip, v.result.kind]));
    try {
      r.follow(desired);
      await until(() => kinds(r.report), (k) => k['v0'] === 'healthy' && k['v1'] === 'healthy', 'both VIPs ready');
      assert.deepEqual(Object.keys(kinds(r.report)), ['v0', 'v1']);
      config = BROKEN;
      await until(() => kinds(r.report), (k) => k['v0'] === 'unhealthy' && k['v1'] === 'unhealthy', 'both VIPs not ready');
      const reason = r.report?.vips[0]?.result;
      assert.match(reason?.kind === 'unhealthy' ? reason.reason : '', /config on disk does not validate/);
      config = VALID;
      status = 502;
      await until(() => r.report?.vips[0]?.result, (x) => x?.kind === 'unhealthy' && /answered 502/.test(x.reason), 'not ready: 502');
      status = 200;
      await until(() => kinds(r.report), (k) => k['v0'] === 'healthy' && k['v1'] === 'healthy', 'ready again');
      assert.ok(reports >= 4, `${reports} reports`);
      // Two VIPs probed every 200 ms share one config test per 100 ms at most.
      const t0 = validations;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.ok(validations - t0 <= 12, `${validations - t0} config tests in a second for two VIPs`);
      r.follow({ ...desired, instances: [] });
      assert.equal(r.report, undefined);
    } finally {
      r.stop();
    }
  });
});

describe('config validity', () => {
  it('runs the config test once for every caller within its age, and again after', async () => {
    let t = 0;
    let runs = 0;
    const v = new ConfigValidity(async () => (runs++, VALID), 100, () => t);
    await Promise.all([v.current(), v.current(), v.current()]);
    assert.equal(runs, 1);
    t = 50;
    await v.current();
    assert.equal(runs, 1);
    t = 150;
    await v.current();
    assert.equal(runs, 2);
  });

  it('runs a passed config test again only when a config file changed, or after the backstop', async () => {
    let t = 0;
    let runs = 0;
    let files = 'a';
    let result: ValidationResult = VALID;
    const v = new ConfigValidity(async () => (runs++, result), 100, () => t, { fingerprint: async () => files, backstopMs: 1_000 });
    await v.current();
    assert.equal(runs, 1);
    // Unchanged files: rounds of probes (every 100 ms here) do not run it.
    for (t = 100; t < 1_000; t += 100) await v.current();
    assert.equal(runs, 1, 'not run while nothing changed');
    // The backstop: a file outside the fingerprint may have changed.
    t = 1_000;
    await v.current();
    assert.equal(runs, 2, 'run again after the backstop');
    // A change is seen at the next round, not at the backstop.
    t = 1_100;
    files = 'b';
    result = BROKEN;
    assert.deepEqual(await v.current(), BROKEN);
    assert.equal(runs, 3);
    // A failed test runs every round although nothing changed: a fix elsewhere is seen at once.
    t = 1_200;
    result = VALID;
    assert.deepEqual(await v.current(), VALID);
    assert.equal(runs, 4);
    t = 1_300;
    await v.current();
    assert.equal(runs, 4);
  });

  it('fingerprints the config file and the files next to and below it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lbha-fingerprint-'));
    try {
      const main = join(dir, 'nginx.conf');
      writeFileSync(main, 'events {}\n');
      mkdirSync(join(dir, 'conf.d'));
      writeFileSync(join(dir, 'conf.d', 'vip1.conf'), 'server {}\n');
      const seen = [await configFingerprint(main)];
      const changed = async (what: string) => {
        const f = await configFingerprint(main);
        assert.ok(!seen.includes(f), `${what} changes the fingerprint`);
        seen.push(f);
      };
      assert.equal(await configFingerprint(main), seen[0], 'the same files, the same fingerprint');
      assert.deepEqual((seen[0] ?? '').split('\n').map((l) => l.slice(dir.length).split(' ')[0]), ['/nginx.conf', '/conf.d', '/conf.d/vip1.conf', '/nginx.conf'], 'the file, then its directory in order, one level down');
      writeFileSync(join(dir, 'conf.d', 'vip1.conf'), 'server { broken }\n');
      await changed('an include edited in place');
      writeFileSync(join(dir, 'nginx.conf.tmp'), 'events { }\n');
      await changed('a new file next to it');
      renameSync(join(dir, 'nginx.conf.tmp'), main);
      await changed('the config file replaced by a rename');
      writeFileSync(join(dir, 'conf.d', 'vip2.conf'), 'server {}\n');
      await changed('a new include');
      rmSync(main);
      await changed('the config file removed');
      assert.equal(await configFingerprint(join(dir, 'gone', 'nginx.conf')), `${join(dir, 'gone', 'nginx.conf')} -`, 'a missing directory is no error');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('callers that come while the files are read share one read and one test', async () => {
    let reads = 0;
    let runs = 0;
    const v = new ConfigValidity(async () => (runs++, VALID), 100, () => 0, { fingerprint: async () => (reads++, 'a'), backstopMs: 1_000 });
    assert.deepEqual(await Promise.all([v.current(), v.current(), v.current()]), [VALID, VALID, VALID]);
    assert.deepEqual([reads, runs], [1, 1]);
  });

  it('looks at no more than 256 files of a crowded directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lbha-fingerprint-'));
    try {
      for (let i = 0; i < 300; i++) writeFileSync(join(dir, `f${String(i).padStart(3, '0')}.conf`), '');
      const lines = (await configFingerprint(join(dir, 'f000.conf'))).split('\n');
      assert.equal(lines.length, 256);
      assert.equal(lines.at(-1)?.slice(dir.length).split(' ')[0], '/f254.conf', 'the first names in order');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts a config test that cannot run as a config that does not validate', async () => {
    const v = new ConfigValidity(() => Promise.reject(new Error('spawn nginx ENOENT')), 100, () => 0);
    assert.deepEqual(await v.current(), { ok: false, output: 'the config test could not run: spawn nginx ENOENT' });
  });
});
