// Denial-of-service attempts by callers with the weakest credentials, against a real coordinator
// over real sockets (mutual TLS on loopback), while two agents keep heartbeating. What must hold:
// the agents never go stale or lose their stream, /healthz keeps answering, and each attack is
// refused or served within its bounds. The event-loop delay is printed, never asserted.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { eventually } from '@lbha/test-support';
import type { KeyPair } from '../src/auth/dev-ca.js';
import { hostileSpec, largeValidSpec, liveAgents, quiet, report, stalledWatch, underAttack, type LiveAgents, type StalledWatch } from './support/attack-bench.js';
import { controlClient, http, startTlsCoordinator, TOKENS, unary, type TlsCoordinator } from './support/tls-coordinator.js';

describe('hostile load from read-only callers', () => {
  let c: TlsCoordinator;
  let agents: LiveAgents;

  before(async () => {
    // Messages up to 8 MiB, so the spec's own 4 MiB limit is the one a large spec meets; watchers
    // that read nothing are disconnected after 3 s instead of 60.
    // The limits at their defaults: they are part of the defence.
    c = await startTlsCoordinator({ maxMessageBytes: 8 * 1024 * 1024, server: { watchStallMs: 3000 }, config: { limits: {} } });
    agents = await liveAgents(c, ['lb1', 'lb2']);
    report('no attack (baseline)', await quiet(c));
  });
  after(async () => {
    agents.stop();
    await c.stop();
  });

  it('ValidateSpec with huge and hostile specs: agents stay live, the loop stays free', async () => {
    // The review's spec (2,000 nodes and 2,000 VIPs in one cluster, now over the limits) and one
    // within them where every one of 1,000 VIPs is a problem, then a large valid one.
    const review = hostileSpec();
    const hostile = hostileSpec(1000, 1000);
    const large = largeValidSpec(1000);
    const outcomes = new Map<string, number>();
    const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
    const figures = await underAttack(c, async () => {
      const deadline = Date.now() + 8000;
      // Six read-only callers (token and certificate, gRPC and HTTP) sending as fast as answered.
      const callers = [0, 1, 2, 3, 4, 5].map(async (i) => {
        const client = controlClient(c, i % 2 === 0 ? { token: TOKENS.viewer } : { cert: c.ca.readOnly['viewer'] });
        try {
          while (Date.now() < deadline) {
            const yaml = i < 2 ? review : i < 4 ? hostile : large;
            if (i === 5) {
              const r = await http(c, 'POST', '/v1/spec/validate', { token: TOKENS.viewer, contentType: 'application/yaml', body: yaml });
              count(r.status === 200 ? 'valid' : r.status === 422 ? 'invalid' : r.status === 429 ? 'refused' : `http ${r.status}`);
              continue;
            }
            const r = await unary<{ valid: boolean; errors: unknown[] }>(client, 'validateSpec', { yaml });
            if (r.ok) count(r.value.valid ? 'valid' : 'invalid');
            else if (r.code === status.RESOURCE_EXHAUSTED) {
              count('refused');
              await new Promise((res) => setTimeout(res, 50));
            } else count(r.code === status.DEADLINE_EXCEEDED ? 'deadline' : `code ${r.code}: ${r.details}`);
          }
        } finally {
          client.close();
        }
      });
      await Promise.all(callers);
    });
    report('ValidateSpec flood (2 x 330 kB and 2 x 165 kB hostile, 2 x 150 kB valid)', figures, `outcomes ${JSON.stringify(Object.fromEntries(outcomes))}`);
    assert.deepEqual(agents.lapses(), [], 'no agent went stale or lost its stream');
    for (const n of ['lb1', 'lb2']) assert.equal(c.server.registry.get(n)?.link, 'connected');
    assert.equal(figures.healthzFailed, 0);
    // Waiting in the bounded queue past the caller's deadline is a refusal too.
    assert.deepEqual([...outcomes.keys()].filter((k) => !['valid', 'invalid', 'refused', 'deadline'].includes(k)), [], 'nothing but answers and refusals');
    // And the answers are right: one of each, given time (the machine may be busy) and once the
    // callers' request budgets have refilled.
    await new Promise((r) => setTimeout(r, 3000));
    const viewer = controlClient(c, { token: TOKENS.viewer });
    const r = await unary<{ valid: boolean; errors: Array<{ path: string; message: string }> }>(viewer, 'validateSpec', { yaml: review }, 120_000);
    assert.ok(r.ok && !r.value.valid);
    assert.deepEqual(r.ok ? r.value.errors.map((e) => `${e.path}: ${e.message}`) : [], ['clusters[0].nodes: at most 1,000 nodes per cluster', 'clusters[0].vips: at most 1,000 VIPs per cluster']);
    const h = await unary<{ valid: boolean; errors: Array<{ message: string }> }>(viewer, 'validateSpec', { yaml: hostile }, 120_000);
    const l = await unary<{ valid: boolean; changes: string[] }>(viewer, 'validateSpec', { yaml: large }, 120_000);
    viewer.close();
    assert.ok(h.ok && !h.value.valid && h.value.errors.length === 101, JSON.stringify(h).slice(0, 300));
    assert.match(h.ok ? (h.value.errors[100]?.message ?? '') : '', /^and \d+ more problems/);
    assert.ok(l.ok && l.value.valid && l.value.changes.length > 1000, JSON.stringify(l).slice(0, 300));
  });

  it('event watchers that never read: bounded memory, capped per caller, disconnected with a reason', async () => {
    // A history of 20,000 events (~8 MB as JSON) for every watcher to replay.
    for (let i = 0; i < 20_000; i++) c.server.events.record({ type: 'test.history', cluster: 'web', node: 'lb1', message: `event ${i} ${'x'.repeat(200)}` });
    await c.server.events.flush();
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const sse: Array<{ status: number; ended: Promise<string>; close: () => void }> = [];
    const grpc: StalledWatch[] = [];
    const figures = await underAttack(c, async () => {
      // Nine HTTPS watchers of one token and nine gRPC watchers of one certificate, none reading.
      for (let i = 0; i < 9; i++) sse.push(await pausedEventStream(c));
      for (let i = 0; i < 9; i++) grpc.push(stalledWatch(c, c.ca.readOnly['viewer'] as KeyPair));
      // History keeps growing meanwhile.
      for (let i = 0; i < 5000; i++) c.server.events.record({ type: 'test.live', message: `live ${i}` });
      await new Promise((r) => setTimeout(r, 1500));
    });
    global.gc?.();
    const heapMb = Math.round((process.memoryUsage().heapUsed - heapBefore) / 1e5) / 10;
    report('18 event watchers that never read, 25,000 events', figures, `heap growth ${heapMb} MB`);
    assert.deepEqual(sse.map((s) => s.status), [...Array(8).fill(200), 429], 'eight per caller over HTTP, the ninth refused');
    assert.match(await sse[8]!.ended, /viewer already has 8 event watchers \(at most 8\)/);
    assert.deepEqual(await grpc[8]!.status(), { code: status.RESOURCE_EXHAUSTED, details: 'cert:viewer already has 8 event watchers (at most 8)' });
    // The sixteen that were let in and read nothing are disconnected, with where to resume. What
    // was sent before waits in front of the status, so they read it once the coordinator gave up.
    await eventually(() => c.server.watchLimits.disconnected.too_slow === 16, 'all sixteen disconnected for reading nothing', 30_000);
    for (const g of grpc.slice(0, 8)) {
      const e = await g.status();
      assert.equal(e.code, status.RESOURCE_EXHAUSTED);
      assert.match(e.details, /^this watcher read nothing for 3s; watch again with after_seq \d+ to continue$/);
    }
    for (const s of sse) s.close();
    for (const g of grpc) g.close();
    await eventually(() => c.server.watchLimits.watchers === 0, 'every watcher released');
    assert.deepEqual(agents.lapses(), [], 'no agent went stale or lost its stream');
    assert.equal(figures.healthzFailed, 0);
  });

  it('a spec over 4 MiB is refused before it is parsed', async () => {
    const ops = controlClient(c, { token: TOKENS.viewer });
    const r = await unary(ops, 'validateSpec', { yaml: `# ${'x'.repeat(4 * 1024 * 1024)}\nclusters: []\n` });
    ops.close();
    assert.equal(r.ok ? 0 : r.code, status.INVALID_ARGUMENT);
    assert.match(r.ok ? '' : r.details, /^yaml: the spec is \d+ bytes; at most 4194304 are accepted$/);
  });
});

/** GET /v1/events/stream as the viewer token, reading nothing after the headers. */
function pausedEventStream(c: TlsCoordinator): Promise<{ status: number; ended: Promise<string>; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port: c.httpPort, path: '/v1/events/stream?afterSeq=0', headers: { authorization: `Bearer ${TOKENS.viewer}` }, ca: readFileSync(c.ca.ca.cert), servername: 'localhost', agent: false },
      (res) => {
        let text = '';
        const ended = new Promise<string>((done) => {
          res.on('end', () => done(text));
          res.on('close', () => done(text));
        });
        if (res.statusCode === 200) res.pause();
        else res.on('data', (d: Buffer) => (text += d.toString()));
        resolve({ status: res.statusCode ?? 0, ended, close: () => req.destroy() });
      },
    );
    req.on('error', reject);
    req.end();
  });
}
