import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AgentHello } from '@lbha/shared';
import { Registry, type AgentSession, type RegistryEvent } from '../src/registry.js';

function hello(node: string, bootId: string): AgentHello {
  return { node, cluster: 'web', agentVersion: '1', bootId, protocol: 1, appliedVersion: 0, recentResults: [] };
}

function session(id: string): AgentSession & { closed: string[] } {
  const closed: string[] = [];
  return { id, peer: `peer-${id}`, closed, sendDesiredState: () => {}, sendCommand: () => {}, close: (r) => closed.push(r) };
}

describe('Registry', () => {
  it('refuses a second live agent with the same name, keeps the first', () => {
    let now = 1000;
    const r = new Registry(3000, () => now);
    assert.equal(r.attach(hello('lb1', 'boot-a'), session('s1')).ok, true);
    now += 500;
    const second = r.attach(hello('lb1', 'boot-b'), session('s2'));
    assert.equal(second.ok, false);
    assert.equal(r.get('lb1')?.bootId, 'boot-a');
    assert.equal(r.get('lb1')?.session?.id, 's1');
  });

  it('lets the same agent process replace its own stream', () => {
    const r = new Registry(3000, () => 1000);
    const s1 = session('s1');
    r.attach(hello('lb1', 'boot-a'), s1);
    assert.equal(r.attach(hello('lb1', 'boot-a'), session('s2')).ok, true);
    assert.equal(s1.closed.length, 1);
    assert.equal(r.get('lb1')?.session?.id, 's2');
    r.detach('lb1', 's1', 'late close of the old stream');
    assert.equal(r.get('lb1')?.link, 'connected', 'a stale session id must not detach the new one');
  });

  it('lets a new agent take over a name whose agent went silent', () => {
    let now = 1000;
    const r = new Registry(3000, () => now);
    r.attach(hello('lb1', 'boot-a'), session('s1'));
    now += 5000;
    assert.equal(r.attach(hello('lb1', 'boot-b'), session('s2')).ok, true);
    assert.equal(r.get('lb1')?.bootId, 'boot-b');
  });

  it('marks silent nodes stale and fresh again on a heartbeat', () => {
    let now = 0;
    const r = new Registry(1000, () => now);
    const events: RegistryEvent['type'][] = [];
    r.subscribe((e) => events.push(e.type));
    r.attach(hello('lb1', 'b'), session('s1'));
    now = 999;
    r.sweep();
    assert.equal(r.get('lb1')?.link, 'connected');
    now = 1000;
    r.sweep();
    assert.equal(r.get('lb1')?.link, 'stale');
    r.touch('lb1', 's1');
    assert.equal(r.get('lb1')?.link, 'connected');
    assert.deepEqual(events, ['connected', 'stale', 'fresh']);
  });

  it('records NACKs and clears them on the next ACK', () => {
    const r = new Registry(1000, () => 0);
    r.attach(hello('lb1', 'b'), session('s1'));
    r.recordAck('lb1', 's1', 3, false, 'keepalived -t failed');
    assert.equal(r.get('lb1')?.nackError, 'keepalived -t failed');
    r.recordAck('lb1', 's1', 4, true, '');
    assert.equal(r.get('lb1')?.nackError, '');
    assert.equal(r.get('lb1')?.appliedVersion, 4);
  });
  it("judges a reported session's silence as of its reporter's last report, and as of now once the reporter has been quiet for staleAfter", () => {
    let now = 0;
    let reportedAt: number | undefined;
    const r = new Registry(1000, () => now);
    r.attach(hello('lb1', 'b'), session('s1'));
    r.attach(hello('lb2', 'b'), session('s2'));
    r.judgeBy('lb1', 's1', () => reportedAt);
    // No report yet: as of now.
    now = 1000;
    r.sweep();
    assert.equal(r.get('lb1')?.link, 'stale');
    r.touch('lb1', 's1');
    reportedAt = 1000;
    // The reporter is late: lb1 is judged as of its last report; lb2 (direct) as of now.
    now = 1999;
    r.sweep();
    assert.equal(r.get('lb1')?.link, 'connected');
    assert.equal(r.get('lb2')?.link, 'stale');
    // The report that names lb1 silent for staleAfter makes it stale.
    reportedAt = 2000;
    now = 2000;
    r.sweep();
    assert.equal(r.get('lb1')?.link, 'stale');
    // A reporter that stopped: its agent is stale staleAfter after its last report at the latest.
    r.touch('lb1', 's1');
    now = 2999;
    r.sweep();
    assert.equal(r.get('lb1')?.link, 'connected');
    now = 3000;
    r.sweep();
    assert.equal(r.get('lb1')?.link, 'stale');
    // Another session of the node, or the end of the judging, is judged as of now.
    r.touch('lb1', 's1');
    r.judgeBy('lb1', 's1', undefined);
    now = 4000;
    r.sweep();
    assert.equal(r.get('lb1')?.link, 'stale');
  });
});
