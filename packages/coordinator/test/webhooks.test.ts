import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseYaml, silentLogger } from '@lbha/shared';
import { z } from 'zod';
import { eventually } from '@lbha/test-support';
import { EventLog } from '../src/event-log.js';
import { FileStore } from '../src/store/file-store.js';
import { MemoryStore } from '../src/store/memory-store.js';
import type { Store } from '../src/store/store.js';
import { wantsEvent, webhooksSchema, type WebhookConfig } from '../src/webhooks/webhook-config.js';
import { WebhookDispatcher } from '../src/webhooks/webhook-dispatcher.js';
import { backoffMs, type WebhookPayload } from '../src/webhooks/webhook-sender.js';

interface Received {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: WebhookPayload;
}

/** A webhook receiver on 127.0.0.1; `respond` decides each answer (default 204). */
class Receiver {
  readonly received: Received[] = [];
  respond: (req: Received, res: ServerResponse) => void = (_r, res) => res.writeHead(204).end();
  private server: Server | undefined;
  private readonly open = new Set<ServerResponse>();
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let data = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (data += c));
      req.on('end', () => {
        const r: Received = { path: req.url ?? '', headers: req.headers, body: JSON.parse(data) as WebhookPayload };
        this.received.push(r);
        this.open.add(res);
        res.on('close', () => this.open.delete(res));
        this.respond(r, res);
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const res of this.open) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

function webhook(over: Record<string, unknown>): WebhookConfig {
  const parsed = z.array(z.any()).pipe(webhooksSchema).safeParse([{ name: 'ops', url: 'http://127.0.0.1:1/', backoff: { initial: '10ms', max: '40ms' }, ...over }]);
  if (!parsed.success) throw new Error(JSON.stringify(parsed.error.issues));
  return parsed.data[0] as WebhookConfig;
}

/** An event log kept in `store` and a dispatcher following it, as the leader runs them. */
async function following(webhooks: WebhookConfig[], store: Store = new MemoryStore(), coordinatorId = 'c'): Promise<{ events: EventLog; d: WebhookDispatcher }> {
  const events = new EventLog({ flushDelayMs: 1 });
  await events.attach(store);
  const d = new WebhookDispatcher({ webhooks, logger: silentLogger(), coordinatorId });
  await d.start(events, store);
  return { events, d };
}

/** Waits until every recorded event is durable and every webhook has dealt with it. */
async function settled(events: EventLog, d: WebhookDispatcher): Promise<void> {
  await events.flush();
  await d.idle();
}

describe('webhooks', () => {
  const rx = new Receiver();
  const dir = mkdtempSync(join(tmpdir(), 'lbha-webhook-'));
  before(() => rx.start());
  after(async () => {
    await rx.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('POSTs every event as JSON, in order, with credentials and a stable delivery id', async () => {
    rx.received.length = 0;
    rx.respond = (_r, res) => res.writeHead(200).end('ok');
    const { events, d } = await following([webhook({ url: `${rx.url}/hook`, bearerToken: 's3cret', header: { name: 'X-Api-Key', value: 'k1' } })], new MemoryStore(), 'coord-1');
    events.record({ type: 'vip.moved', cluster: 'web', node: 'lb2', vip: 'vip-a', severity: 'warning', message: 'vip-a moved to lb2', reason: 'nginx down on lb1' });
    events.record({ type: 'agent.connected', cluster: 'web', node: 'lb1', message: 'agent of lb1 connected' });
    await settled(events, d);
    await d.stop();
    assert.equal(rx.received.length, 2);
    const [first, second] = rx.received as [Received, Received];
    assert.equal(first.path, '/hook');
    assert.equal(first.headers['content-type'], 'application/json');
    assert.equal(first.headers['authorization'], 'Bearer s3cret');
    assert.equal(first.headers['x-api-key'], 'k1');
    assert.equal(first.headers['x-lbha-event'], 'vip.moved');
    assert.equal(first.headers['x-lbha-delivery'], first.body.deliveryId);
    assert.equal(first.headers['idempotency-key'], first.body.deliveryId);
    assert.match(first.body.deliveryId, /^lbha-[0-9a-f]{12}-1$/);
    assert.deepEqual(
      { ...first.body, deliveryId: '', time: '', timeMs: 0 },
      { coordinator: 'coord-1', deliveryId: '', seq: 1, time: '', timeMs: 0, type: 'vip.moved', severity: 'warning', cluster: 'web', node: 'lb2', vip: 'vip-a', message: 'vip-a moved to lb2', reason: 'nginx down on lb1', actor: 'system', operationId: '' },
    );
    assert.equal(first.body.time, new Date(first.body.timeMs).toISOString());
    assert.equal(second.body.seq, 2);
    assert.deepEqual(d.stats(), [{ name: 'ops', queued: 0, delivered: 2, failed: 0, dropped: 0, retried: 0 }]);
  });

  it('retries 5xx and connection failures with backoff, keeping the delivery id', async () => {
    rx.received.length = 0;
    let calls = 0;
    rx.respond = (_r, res) => {
      calls++;
      if (calls === 1) res.writeHead(503, { 'retry-after': '0' }).end();
      else if (calls === 2) res.destroy();
      else res.writeHead(202).end();
    };
    const { events, d } = await following([webhook({ url: rx.url, maxRetries: 3 })]);
    events.record({ type: 'vip.orphaned', message: 'no holder' });
    await settled(events, d);
    await d.stop();
    assert.equal(rx.received.length, 3);
    assert.equal(new Set(rx.received.map((r) => r.body.deliveryId)).size, 1);
    assert.deepEqual(d.stats()[0], { name: 'ops', queued: 0, delivered: 1, failed: 0, dropped: 0, retried: 2 });
  });

  it('gives up after maxRetries, does not retry a 4xx, and goes on with the next event', async () => {
    rx.received.length = 0;
    rx.respond = (r, res) => res.writeHead(r.body.type === 'a.bad' ? 400 : r.body.type === 'a.down' ? 500 : 204).end();
    const { events, d } = await following([webhook({ url: rx.url, maxRetries: 2 })]);
    events.record({ type: 'a.bad', message: '' });
    events.record({ type: 'a.down', message: '' });
    events.record({ type: 'a.fine', message: '' });
    await settled(events, d);
    await d.stop();
    assert.deepEqual(rx.received.map((r) => r.body.type), ['a.bad', 'a.down', 'a.down', 'a.down', 'a.fine']);
    assert.deepEqual(d.stats()[0], { name: 'ops', queued: 0, delivered: 1, failed: 2, dropped: 0, retried: 2 });
  });

  it('does not follow redirects (the token stays with the configured URL)', async () => {
    rx.received.length = 0;
    rx.respond = (r, res) => (r.path === '/elsewhere' ? res.writeHead(204).end() : res.writeHead(307, { location: `${rx.url}/elsewhere` }).end());
    const { events, d } = await following([webhook({ url: `${rx.url}/hook`, bearerToken: 't' })]);
    events.record({ type: 'x', message: '' });
    await settled(events, d);
    await d.stop();
    assert.deepEqual(rx.received.map((r) => r.path), ['/hook']);
    assert.equal(d.stats()[0]?.failed, 1);
  });

  it('a hanging webhook neither blocks the caller nor another webhook, and falls at most queueSize behind', async () => {
    rx.received.length = 0;
    let release: (() => void) | undefined;
    rx.respond = (r, res) => {
      // The first POST to /slow hangs until released; the rest are answered at once.
      if (r.path === '/slow' && !release) release = () => res.writeHead(204).end();
      else res.writeHead(204).end();
    };
    const { events, d } = await following([
      webhook({ name: 'slow', url: `${rx.url}/slow`, queueSize: 3, timeout: '10s', maxRetries: 0 }),
      webhook({ name: 'fast', url: `${rx.url}/fast` }),
    ]);
    for (let i = 0; i < 2; i++) events.record({ type: 'vip.moved', message: `${i}` });
    await eventually(() => release !== undefined, 'the slow webhook got its first event');
    for (let i = 2; i < 10; i++) events.record({ type: 'vip.moved', message: `${i}` });
    await eventually(() => rx.received.filter((r) => r.path === '/fast').length === 10, 'all events at the fast webhook');
    // One event in flight, nine after it: more than queueSize.
    assert.equal(d.stats().find((s) => s.name === 'slow')?.queued, 10);
    release?.();
    await settled(events, d);
    // The event in flight and the next were delivered; then the oldest five were skipped.
    const slow = d.stats().find((s) => s.name === 'slow');
    assert.deepEqual({ queued: slow?.queued, dropped: slow?.dropped, delivered: slow?.delivered }, { queued: 0, dropped: 5, delivered: 5 });
    assert.deepEqual(rx.received.filter((r) => r.path === '/slow').map((r) => r.body.message), ['0', '1', '7', '8', '9']);
    await d.stop();
  });

  it('times out a receiver that does not answer, then retries', async () => {
    rx.received.length = 0;
    let calls = 0;
    rx.respond = (_r, res) => {
      if (++calls > 1) res.writeHead(204).end();
    };
    const { events, d } = await following([webhook({ url: rx.url, timeout: '200ms', maxRetries: 1 })]);
    events.record({ type: 'x', message: '' });
    await settled(events, d);
    await d.stop();
    assert.equal(calls, 2);
    assert.deepEqual(d.stats()[0], { name: 'ops', queued: 0, delivered: 1, failed: 0, dropped: 0, retried: 1 });
  });

  it('at shutdown, gives queued events a grace period, then stops', async () => {
    rx.received.length = 0;
    rx.respond = (r, res) => {
      if (r.body.type === 'slow') return; // never answers
      setTimeout(() => res.writeHead(204).end(), 20);
    };
    const quick = await following([webhook({ url: rx.url })]);
    for (let i = 1; i <= 3; i++) quick.events.record({ type: 'ok', message: '' });
    await quick.events.flush();
    const stats = () => quick.d.stats()[0];
    await quick.d.drainAndStop(5000);
    assert.equal(stats()?.delivered, 3, 'everything pending went out');
    assert.equal(rx.received.filter((r) => r.body.type === 'ok').length, 3);
    const stuck = await following([webhook({ url: rx.url, timeout: '30s' })]);
    stuck.events.record({ type: 'slow', message: '' });
    await stuck.events.flush();
    const started = Date.now();
    await stuck.d.drainAndStop(200);
    assert.ok(Date.now() - started < 5000, 'a hanging receiver does not hold up shutdown beyond the grace');
  });

  it('delivers at least once across a restart, with the same idempotency key, continuing the event sequence', async () => {
    rx.received.length = 0;
    let up = false;
    rx.respond = (_r, res) => res.writeHead(up ? 204 : 503).end();
    const path = join(dir, 'restart', 'state.json');
    // First run: the receiver is down; two events wait.
    const first = await FileStore.open(path, { fsync: false });
    const one = await following([webhook({ url: rx.url, maxRetries: 20 })], first, 'coord-a');
    one.events.record({ type: 'vip.moved', message: 'before the restart' });
    one.events.record({ type: 'vip.moved', message: 'also before' });
    await one.events.flush();
    await eventually(() => rx.received.length >= 2, 'a first attempt');
    await one.d.stop();
    await one.events.detach();
    await first.close();
    const triedBefore = [...new Set(rx.received.map((r) => r.body.deliveryId))];
    // Second run (another coordinator id): the receiver is up; the waiting events go out, then new ones.
    up = true;
    rx.received.length = 0;
    const second = await FileStore.open(path, { fsync: false });
    const two = await following([webhook({ url: rx.url, maxRetries: 20 })], second, 'coord-b');
    two.events.record({ type: 'vip.moved', message: 'after the restart' });
    await settled(two.events, two.d);
    await two.d.stop();
    await two.events.detach();
    await second.close();
    assert.deepEqual(rx.received.map((r) => [r.body.seq, r.body.message, r.body.coordinator]), [
      [1, 'before the restart', 'coord-b'],
      [2, 'also before', 'coord-b'],
      [3, 'after the restart', 'coord-b'],
    ]);
    assert.equal(rx.received[0]?.body.deliveryId, triedBefore[0], 'the same idempotency key as before the restart');
    assert.equal(new Set(rx.received.map((r) => r.body.deliveryId)).size, 3);
  });

  it('filters by event type pattern and severity', () => {
    const w = { events: ['vip.*', 'agent.disconnected'], minSeverity: 'warning' as const };
    assert.equal(wantsEvent(w, 'vip.moved', 'warning'), true);
    assert.equal(wantsEvent(w, 'vip.moved', 'info'), false);
    assert.equal(wantsEvent(w, 'vipx.moved', 'critical'), false);
    assert.equal(wantsEvent(w, 'agent.disconnected', 'critical'), true);
    assert.equal(wantsEvent(w, 'agent.connected', 'critical'), false);
    assert.equal(wantsEvent({ events: ['*'], minSeverity: 'info' }, 'anything', 'info'), true);
  });

  it('backs off exponentially up to the cap, with jitter', () => {
    assert.equal(backoffMs(1, 500, 30_000, () => 1), 500);
    assert.equal(backoffMs(3, 500, 30_000, () => 1), 2000);
    assert.equal(backoffMs(3, 500, 30_000, () => 0), 1000);
    assert.equal(backoffMs(40, 500, 30_000, () => 1), 30_000);
  });

  it('compiles the config section with defaults and refuses bad entries naming the field', () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'from-file\n', { mode: 0o600 });
    const schema = z.object({ webhooks: webhooksSchema }).strict();
    const ok = parseYaml(`webhooks:\n  - name: mail\n    url: https://hooks.example.com/lbha\n    bearerTokenFile: ${tokenFile}\n`, schema);
    assert.ok(ok.ok);
    assert.deepEqual(ok.value.webhooks[0], {
      name: 'mail',
      url: 'https://hooks.example.com/lbha',
      bearerToken: 'from-file',
      header: null,
      timeoutMs: 5000,
      maxRetries: 5,
      initialBackoffMs: 500,
      maxBackoffMs: 30_000,
      queueSize: 1000,
      events: ['*'],
      minSeverity: 'info',
    });
    assert.deepEqual(parseYaml('{}', schema), { ok: true, value: { webhooks: [] } });
    const bad = (yaml: string): string => {
      const r = parseYaml(yaml, schema);
      assert.equal(r.ok, false, yaml);
      return r.ok ? '' : r.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    };
    assert.match(bad('webhooks:\n  - { name: a, url: "ftp://x/" }\n'), /webhooks\[0\]\.url: must be an http/);
    assert.match(bad('webhooks:\n  - { name: a, url: "http://x/", bearerToken: t, bearerTokenFile: /f }\n'), /bearerTokenFile: give bearerToken or bearerTokenFile, not both/);
    assert.match(bad(`webhooks:\n  - { name: a, url: "http://x/", bearerTokenFile: ${join(dir, 'missing')} }\n`), /bearerTokenFile: cannot read .*ENOENT/);
    assert.match(bad('webhooks:\n  - { name: a, url: "http://x/", header: { name: Authorization, value: x } }\n'), /header\.name: is set by the coordinator itself/);
    assert.match(bad('webhooks:\n  - { name: a, url: "http://x/", events: ["vip moved"] }\n'), /events\[0\]: is not an event type/);
    assert.match(bad('webhooks:\n  - { name: a, url: "http://x/" }\n  - { name: a, url: "http://y/" }\n'), /webhooks\[1\]\.name: duplicate webhook name "a"/);
    assert.match(bad('webhooks:\n  - { name: a, url: "http://x/", backoff: { initial: 2s, max: 1s } }\n'), /backoff\.max: must not be shorter/);
  });
});
