// The event log and the audit trail as history: kept in the store across restarts with a
// sequence that continues, the audit trail apart from the events so that no amount of agent
// noise evicts it, and node records of gone names that the spec does not know dropped.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import { AgentServiceClient, PROTOCOL_VERSION } from '@lbha/shared';
import { type pbControl } from '@lbha/shared/control';
import { eventually } from '@lbha/test-support';
import { Harness, LB1, LB2, SEED1 } from './support/coordinator-harness.js';

/** Opens an agent stream for `node`, waits for the Welcome, and hangs up. */
async function connectOnce(address: string, node: string, cluster = 'web'): Promise<void> {
  const client = new AgentServiceClient(address, credentials.createInsecure());
  const call = client.connect();
  await new Promise<void>((resolve, reject) => {
    call.once('data', () => resolve());
    call.once('error', reject);
    call.write({ msg: { $case: 'hello', value: { node, cluster, agentVersion: 'noise', bootId: `boot-${Math.random()}`, protocol: PROTOCOL_VERSION, appliedVersion: 0, recentResults: [], capabilities: [] } } });
  });
  call.on('error', () => undefined);
  call.end();
  client.close();
}

describe('history', () => {
  const harnesses: Harness[] = [];
  after(async () => {
    for (const h of harnesses) await h.stop();
  });

  it('keeps events and the audit trail across a restart; the event sequence goes on', async () => {
    const h = await Harness.start();
    harnesses.push(h);
    await h.applySpec(SEED1);
    await h.agent(LB1);
    await h.agent(LB2);
    const drained = await h.call<pbControl.DrainResponse>('drain', { node: LB2, timeoutMs: 5000, force: true, maintenance: false, reason: 'disk swap' });
    const auditBefore = await h.call<pbControl.ListAuditResponse>('listAudit', { afterSeq: 0, limit: 0, actor: '' });
    assert.deepEqual(
      auditBefore.records.map((r) => [r.actor, r.method, r.node, r.reason, r.outcome, r.operationId]),
      [
        ['anonymous', 'ApplySpec', '', 'test', 'ok', ''],
        ['anonymous', 'Drain', LB2, 'disk swap', 'ok', drained.operation?.id],
      ],
    );
    const before = await h.call<pbControl.ListEventsResponse>('listEvents', { afterSeq: 0, limit: 0, cluster: '', node: '' });
    const lastBefore = before.lastSeq;
    assert.equal(before.firstSeq, 1);
    assert.ok(before.events.some((e) => e.type === 'api.call' && /Drain node=nginx-lb02/.test(e.message)));

    await h.restartCoordinator();
    const afterRestart = await h.call<pbControl.ListEventsResponse>('listEvents', { afterSeq: 0, limit: 0, cluster: '', node: '' });
    assert.deepEqual(afterRestart.events.slice(0, before.events.length), before.events, 'the events of the first run, unchanged');
    // Events of the new run (agents reconnecting) continue the sequence; nothing starts at 1 again.
    await h.agent(LB1);
    await eventually(async () => (await h.call<pbControl.ListEventsResponse>('listEvents', { afterSeq: lastBefore, limit: 0, cluster: '', node: '' })).events.length > 0, 'an event after the restart');
    const next = await h.call<pbControl.ListEventsResponse>('listEvents', { afterSeq: lastBefore, limit: 0, cluster: '', node: '' });
    assert.ok(next.events.every((e, i) => e.seq === lastBefore + 1 + i), JSON.stringify(next.events.map((e) => e.seq)));
    const auditAfter = await h.call<pbControl.ListAuditResponse>('listAudit', { afterSeq: 0, limit: 0, actor: '' });
    assert.deepEqual(auditAfter.records, auditBefore.records);
  });

  it('agent noise cannot evict the audit trail: 200 reconnects (400 events) against an event history of 200', async () => {
    const h = await Harness.start({ config: { history: { events: 200, audit: 200 } } });
    harnesses.push(h);
    await h.applySpec(SEED1);
    await h.call('undrain', { node: LB1, reason: 'on record' });
    for (let i = 0; i < 200; i++) await connectOnce(h.address, LB2);
    await h.server.events.flush();
    const events = await h.call<pbControl.ListEventsResponse>('listEvents', { afterSeq: 0, limit: 0, cluster: '', node: '' });
    assert.ok(events.firstSeq > 100 && events.lastSeq >= 400, `the oldest events were trimmed (first seq ${events.firstSeq}, last ${events.lastSeq})`);
    assert.ok(!events.events.some((e) => e.type === 'api.call'), 'the api.call events went with them');
    const audit = await h.call<pbControl.ListAuditResponse>('listAudit', { afterSeq: 0, limit: 0, actor: 'anonymous' });
    assert.deepEqual(audit.records.map((r) => `${r.method} ${r.reason}`), ['ApplySpec test', 'Undrain on record']);
    assert.equal(audit.firstSeq, 1);
  });

  it('drops the records (and metrics series) of gone nodes the spec does not name; keeps those it names', async () => {
    const h = await Harness.start({ server: { nodeRetention: { graceMs: 0, maxGone: 0 } } });
    harnesses.push(h);
    await h.applySpec(SEED1);
    const forgotten = new Set<string>();
    h.server.registry.subscribe((e) => e.type === 'forgotten' && forgotten.add(e.node));
    await h.agent(LB1);
    await connectOnce(h.address, LB2);
    for (let i = 0; i < 50; i++) await connectOnce(h.address, `invented-${i}`);
    await eventually(() => h.server.registry.list().length === 2, 'the invented names dropped', 15_000);
    assert.equal(forgotten.size, 50);
    assert.deepEqual(h.server.registry.list().map((r) => r.name), [LB1, LB2], 'a gone node the spec names stays listed');
    const metrics = (await h.server.metrics.render()).body;
    assert.doesNotMatch(metrics, /invented-/);
    assert.match(metrics, /node="nginx-lb02"/);
  });
});
