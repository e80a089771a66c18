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
    const events = new EventLog();
    const d = new WebhookDispatcher({
      webhooks: [webhook({ url: `${rx.url}/hook`, bearerToken: 's3cret', header: { name: 'X-Api-Key', value: 'k1' } })],
      logger: silentLogger(),
      coordinatorId: 'coord-1',
    });
    d.attach(events);
    events.record({ type: 'vip.moved', cluster: 'web', node: 'lb2', vip: 'vip-a', severity: 'warning', message: 'vip-a moved to lb2', reason: 'nginx down on lb1' });
    events.record({ type: 'agent.connected', cluster: 'web', node: 'lb1', message: 'agent of lb1 connected' });
    await d.idle();
    d.stop();
    assert.equal(rx.received.length, 2);
    const [first, second] = rx.received as [Received, Received];
    assert.equal(first.path, '/hook');
    assert.equal(first.headers['content-type'], 'application/json');
    assert.equal(first.headers['authorization'], 'Bearer s3cret');
    assert.equal(first.headers['x-api-key'], 'k1');
    assert.equal(first.headers['x-lbha-event'], 'vip.moved');
    assert.equal(first.headers['x-lbha-delivery'], first.body.deliveryId);
    assert.match(first.body.deliveryId, /^coord-1\.[a-z0-9]+\.1$/);
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
    const d = new WebhookDispatcher({ webhooks: [webhook({ url: rx.url, maxRetries: 3 })], logger: silentLogger(), coordinatorId: 'c' });
    const events = new EventLog();
    d.attach(events);
    events.record({ type: 'vip.orphaned', message: 'no holder' });
    await d.idle();
    d.stop();
    assert.equal(rx.received.length, 3);
    assert.equal(new Set(rx.received.map((r) => r.body.deliveryId)).size, 1);
    assert.deepEqual(d.stats()[0], { name: 'ops', queued: 0, delivered: 1, failed: 0, dropped: 0, retried: 2 });
  });

  it('gives up after maxRetries, does not retry a 4xx, and goes on with the next event', async () => {
    rx.received.length = 0;
    rx.respond = (r, res) => res.writeHead(r.body.type === 'a.bad' ? 400 : r.body.type === 'a.down' ? 500 : 204).end();
    const d = new WebhookDispatcher({ webhooks: [webhook({ url: rx.url, maxRetries: 2 })], logger: silentLogger(), coordinatorId: 'c' });
    const events = new EventLog();
    d.attach(events);
    events.record({ type: 'a.bad', message: '' });
    events.record({ type: 'a.down', message: '' });
    events.record({ type: 'a.fine', message: '' });
    await d.idle();
    d.stop();
    assert.deepEqual(rx.received.map((r) => r.body.type), ['a.bad', 'a.down', 'a.down', 'a.down', 'a.fine']);
    assert.deepEqual(d.stats()[0], { name: 'ops', queued: 0, delivered: 1, failed: 2, dropped: 0, retried: 2 });
  });

  it('does not follow redirects (the token stays with the configured URL)', async () => {
    rx.received.length = 0;
    rx.respond = (r, res) => (r.path === '/elsewhere' ? res.writeHead(204).end() : res.writeHead(307, { location: `${rx.url}/elsewhere` }).end());
    const d = new WebhookDispatcher({ webhooks: [webhook({ url: `${rx.url}/hook`, bearerToken: 't' })], logger: silentLogger(), coordinatorId: 'c' });
    d.publish({ seq: 1, timeMs: 1, cluster: '', node: '', vip: '', type: 'x', message: '', reason: '', actor: 'system', severity: 'info', operationId: '' });
    await d.idle();
    d.stop();
    assert.deepEqual(rx.received.map((r) => r.path), ['/hook']);
    assert.equal(d.stats()[0]?.failed, 1);
  });

  it('a hanging webhook neither blocks the caller nor another webhook, and its queue stays bounded', async () => {
    rx.received.length = 0;
    rx.respond = (r, res) => {
      if (r.path === '/slow') return; // never answers
      res.writeHead(204).end();
    };
    const d = new WebhookDispatcher({
      webhooks: [
        webhook({ name: 'slow', url: `${rx.url}/slow`, queueSize: 3, timeout: '10s', maxRetries: 0 }),
        webhook({ name: 'fast', url: `${rx.url}/fast` }),
      ],
      logger: silentLogger(),
      coordinatorId: 'c',
    });
    const events = new EventLog();
    d.attach(events);
    for (let i = 0; i < 10; i++) events.record({ type: 'vip.moved', message: `${i}` });
    await eventually(() => rx.received.filter((r) => r.path === '/fast').length === 10, 'all events at the fast webhook');
    const slow = d.stats().find((s) => s.name === 'slow');
    // One event in flight, three queued, the other six dropped oldest first.
    assert.deepEqual({ queued: slow?.queued, dropped: slow?.dropped }, { queued: 3, dropped: 6 });
    d.stop();
    assert.equal(d.stats().find((s) => s.name === 'slow')?.queued, 0);
  });

  it('times out a receiver that does not answer, then retries', async () => {
    rx.received.length = 0;
    let calls = 0;
    rx.respond = (_r, res) => {
      if (++calls > 1) res.writeHead(204).end();
    };
    const d = new WebhookDispatcher({ webhooks: [webhook({ url: rx.url, timeout: '200ms', maxRetries: 1 })], logger: silentLogger(), coordinatorId: 'c' });
    d.publish({ seq: 7, timeMs: 1, cluster: '', node: '', vip: '', type: 'x', message: '', reason: '', actor: 'system', severity: 'info', operationId: '' });
    await d.idle();
    d.stop();
    assert.equal(calls, 2);
    assert.deepEqual(d.stats()[0], { name: 'ops', queued: 0, delivered: 1, failed: 0, dropped: 0, retried: 1 });
  });

  it('at shutdown, gives queued events a grace period, then stops', async () => {
    rx.received.length = 0;
    rx.respond = (r, res) => {
      if (r.body.type === 'slow') return; // never answers
      setTimeout(() => res.writeHead(204).end(), 20);
    };
    const quick = new WebhookDispatcher({ webhooks: [webhook({ url: rx.url })], logger: silentLogger(), coordinatorId: 'c' });
    for (let i = 1; i <= 3; i++) quick.publish({ seq: i, timeMs: 1, cluster: '', node: '', vip: '', type: 'ok', message: '', reason: '', actor: 'system', severity: 'info', operationId: '' });
    await quick.drainAndStop(5000);
    assert.equal(quick.stats()[0]?.delivered, 3, 'everything queued went out');
    const stuck = new WebhookDispatcher({ webhooks: [webhook({ url: rx.url, timeout: '30s' })], logger: silentLogger(), coordinatorId: 'c' });
    stuck.publish({ seq: 9, timeMs: 1, cluster: '', node: '', vip: '', type: 'slow', message: '', reason: '', actor: 'system', severity: 'info', operationId: '' });
    const started = Date.now();
    await stuck.drainAndStop(200);
    assert.ok(Date.now() - started < 5000, 'a hanging receiver does not hold up shutdown beyond the grace');
    assert.equal(stuck.stats()[0]?.delivered, 0);
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
