// The limits against callers without credentials, or with weak ones, over real sockets (mutual
// TLS on loopback) while two agents heartbeat: failed logins are throttled per address without a
// log line each, connections are capped per address, HTTP/2 streams per connection, calls per
// caller, and an agent's reconnects and messages. Agents stay live through all of it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { createLogger } from '@lbha/shared';
import { eventually } from '@lbha/test-support';
import { liveAgents, report, underAttack, type LiveAgents } from './support/attack-bench.js';
import { channelCredentials, controlClient, http, openAgentStream, startTlsCoordinator, TOKENS, unary, type TlsCoordinator } from './support/tls-coordinator.js';

/** The value of a sample in a /metrics text (0 when absent). */
function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

describe('limits against hostile callers', () => {
  let c: TlsCoordinator;
  let agents: LiveAgents;
  const lines: Array<{ event?: string }> = [];

  before(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as { event?: string });
        done();
      },
    });
    c = await startTlsCoordinator({
      agents: ['lb1', 'lb2', 'lb3', 'lb4'],
      logger: createLogger('coordinator', { level: 'warn', destination: sink }),
      // Small enough to reach quickly from one test process; the rest at their defaults.
      config: { limits: { connectionsPerAddress: 40, requestsPerSecond: 20 } },
    });
    agents = await liveAgents(c, ['lb1', 'lb2']);
  });
  after(async () => {
    agents.stop();
    await c.stop();
  });

  it('5,000 bad tokens: the address is throttled after 30, with a handful of log lines; certificates still work', async () => {
    const bad = controlClient(c, { token: 'not-a-token' });
    const codes = new Map<number, number>();
    const started = performance.now();
    const figures = await underAttack(c, async () => {
      for (let i = 0; i < 5000; i += 50) {
        const batch = await Promise.all(Array.from({ length: 50 }, () => unary(bad, 'listNodes', { cluster: '' })));
        for (const r of batch) codes.set(r.ok ? 0 : r.code, (codes.get(r.ok ? 0 : r.code) ?? 0) + 1);
      }
    });
    const seconds = (performance.now() - started) / 1000;
    bad.close();
    report('5,000 bad tokens over gRPC', figures, `${seconds.toFixed(1)} s; outcomes ${JSON.stringify(Object.fromEntries(codes))}`);
    // Thirty are looked at, then the address waits 10 s (20 s the next time...): on a busy
    // machine the run may outlast a wait, and thirty more are looked at after it.
    const lookedAt = codes.get(status.UNAUTHENTICATED) ?? 0;
    const blocks = lookedAt / 30;
    assert.ok(Number.isInteger(blocks) && blocks >= 1 && blocks <= 1 + Math.log2(1 + seconds / 10), `${lookedAt} looked at in ${seconds.toFixed(1)} s`);
    assert.equal(codes.get(status.RESOURCE_EXHAUSTED), 5000 - lookedAt, 'the rest refused without a look');
    const authLines = lines.filter((l) => l.event?.startsWith('auth.'));
    assert.ok(authLines.length <= 2 * blocks + 1, `one line per address a minute and one per wait: ${JSON.stringify(authLines)}`);
    // The HTTP API shares the throttle: the same address gets 429 with Retry-After (at once, or
    // after thirty more failures if the wait just ended).
    let h = await http(c, 'GET', '/v1/nodes', { token: 'not-a-token' });
    for (let i = 0; i < 30 && h.status === 401; i++) h = await http(c, 'GET', '/v1/nodes', { token: 'not-a-token' });
    assert.equal(h.status, 429);
    assert.match(String(h.headers['retry-after']), /^\d+$/);
    assert.equal((await http(c, 'GET', '/v1/nodes', { token: TOKENS.viewer })).status, 429, 'a good token from that address waits too');
    // A verified certificate is proof, not a guess: it goes through.
    const viewer = controlClient(c, { cert: c.ca.readOnly['viewer'] });
    assert.ok((await unary(viewer, 'listNodes', { cluster: '' })).ok);
    viewer.close();
    const m = (await http(c, 'GET', '/metrics', {})).text;
    assert.ok(sample(m, 'lbha_auth_failures_total{api="grpc"}') >= 30);
    assert.ok(sample(m, 'lbha_auth_throttled_total') >= 5000 - lookedAt);
    assert.ok(sample(m, 'lbha_auth_throttled_addresses') <= 1);
    assert.deepEqual(agents.lapses(), []);
  });

  it('connections per address are capped before TLS; open ones keep working', async () => {
    const port = Number(c.grpcAddress.split(':').pop());
    const handshakes = (text: string) => ({
      started: sample(text, 'lbha_grpc_tls_handshakes_started_total'),
      completed: sample(text, 'lbha_grpc_tls_handshakes_completed_total'),
      closed: sample(text, 'lbha_grpc_tls_handshakes_failed_total{reason="closed"}'),
    });
    const before = handshakes((await http(c, 'GET', '/metrics', {})).text);
    const sockets: Socket[] = [];
    const closed: boolean[] = [];
    for (let i = 0; i < 60; i++) {
      const s = netConnect(port, '127.0.0.1');
      const at = i;
      closed[at] = false;
      s.on('close', () => (closed[at] = true));
      s.on('error', () => undefined);
      sockets.push(s);
    }
    // Two agents and the test's clients hold a few; the rest up to 40 are let in.
    await eventually(() => closed.filter(Boolean).length >= 20, 'the connections over the limit closed');
    await new Promise((r) => setTimeout(r, 500));
    const refused = closed.filter(Boolean).length;
    const m = (await http(c, 'GET', '/metrics', {})).text;
    assert.equal(sample(m, 'lbha_api_connections_refused_total{api="grpc",reason="per_address"}'), refused);
    assert.ok(sample(m, 'lbha_api_connections{api="grpc"}') <= 40);
    for (const s of sockets) s.destroy();
    await eventually(async () => sample((await http(c, 'GET', '/metrics', {})).text, 'lbha_api_connections{api="grpc"}') <= 3, 'the flood gone');
    // The refused ones started no handshake; the others started one each, which ended when their
    // client closed them without a word.
    const letIn = 60 - refused;
    await eventually(async () => handshakes((await http(c, 'GET', '/metrics', {})).text).closed === before.closed + letIn, 'the handshakes of the closed connections counted');
    assert.deepEqual(handshakes((await http(c, 'GET', '/metrics', {})).text), { started: before.started + letIn, completed: before.completed, closed: before.closed + letIn });
    assert.deepEqual(agents.lapses(), [], 'agents keep their connections');
  });

  it('one connection may carry at most 128 concurrent calls', async () => {
    const session = http2Connect(`https://127.0.0.1:${c.grpcAddress.split(':').pop()}`, { ca: readFileSync(c.ca.ca.cert), servername: 'localhost' });
    await new Promise((resolve) => session.once('remoteSettings', resolve));
    assert.equal(session.remoteSettings.maxConcurrentStreams, 128);
    session.close();
  });

  it('calls per caller are capped; other callers are not held back', async () => {
    const viewer = controlClient(c, { cert: c.ca.readOnly['viewer'] });
    const results = await Promise.all(Array.from({ length: 200 }, () => unary(viewer, 'listNodes', { cluster: '' })));
    viewer.close();
    const limited = results.filter((r) => !r.ok && r.code === status.RESOURCE_EXHAUSTED);
    assert.ok(limited.length >= 100 && limited.length <= 160, `${limited.length} of 200 refused (bursts of 40)`);
    assert.match(limited[0] && !limited[0].ok ? limited[0].details : '', /^cert:viewer is calling faster than the coordinator allows; retry in \d+ms$/);
    const alice = controlClient(c, { cert: c.ca.operators['alice'] });
    assert.ok((await unary(alice, 'listNodes', { cluster: '' })).ok, 'another caller goes through');
    alice.close();
  });

  it('an agent that reconnects in a loop is refused after 60 streams a minute; a chatty stream is ended', async () => {
    const creds = channelCredentials(c, { cert: c.ca.agents['lb3'] });
    const outcomes: string[] = [];
    const started = performance.now();
    for (let i = 0; i < 80; i++) {
      const r = await openAgentStream(c.grpcAddress, creds, { node: 'lb3' });
      if (r.ok) {
        outcomes.push('ok');
        r.call.on('error', () => undefined);
        r.call.end();
        r.client.close();
      } else outcomes.push(`${r.code}: ${r.details.replace(/\d+s$/, 'Ns')}`);
    }
    // Sixty at once, then one a second as the budget refills.
    const accepted = outcomes.filter((o) => o === 'ok').length;
    const refills = Math.ceil((performance.now() - started) / 1000);
    assert.ok(accepted >= 60 && accepted <= 60 + refills, `${accepted} accepted in ${refills} s`);
    assert.deepEqual([...new Set(outcomes.filter((o) => o !== 'ok'))], [`${status.RESOURCE_EXHAUSTED}: node lb3 opened more than 60 streams in a minute; retry in Ns`]);
    // A stream that sends far more than 100 messages a second (bursts of 1,000) is ended.
    const chatty = await openAgentStream(c.grpcAddress, channelCredentials(c, { cert: c.ca.agents['lb4'] }), { node: 'lb4' });
    assert.ok(chatty.ok);
    const ended = new Promise<{ code: number; details: string }>((resolve) => chatty.call.on('error', (e: { code: number; details: string }) => resolve(e)));
    chatty.call.on('data', () => undefined);
    for (let i = 0; i < 3000; i++) chatty.call.write({ msg: { $case: 'heartbeat', value: { seq: i, sentMs: Date.now() } } });
    const e = await ended;
    chatty.client.close();
    assert.deepEqual({ code: e.code, details: e.details }, { code: status.RESOURCE_EXHAUSTED, details: 'the agent sends more than 100 messages a second; reconnect' });
    const m = (await http(c, 'GET', '/metrics', {})).text;
    assert.equal(sample(m, 'lbha_agent_limit_refusals_total{reason="reconnects"}'), 80 - accepted);
    assert.equal(sample(m, 'lbha_agent_limit_refusals_total{reason="messages"}'), 1);
    assert.deepEqual(agents.lapses(), []);
  });
});
