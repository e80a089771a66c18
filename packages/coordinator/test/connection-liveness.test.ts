// The liveness sweep over fake connections (a byte count the test moves, a destroy it records),
// with the clock passed in: which sessions it touches, and which connections it closes as dead.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionLiveness, DEAD_CONNECTION_MS, deadConnectionMs, pingIntervalMs, type WatchedConnection } from '../src/connection-liveness.js';
import { coordinatorConfigSchema } from '../src/coordinator-config.js';
import { Registry } from '../src/registry.js';

class FakeConnection implements WatchedConnection {
  bytesRead = 0;
  destroyed = 0;
  destroy(): void {
    this.destroyed++;
  }
}

/** Runs a sweep at `now`; the sessions touched and closed, in order. */
function sweep(l: ConnectionLiveness, now: number): { touched: string[]; closed: string[] } {
  const touched: string[] = [];
  const closed: string[] = [];
  l.sweep(
    now,
    (node, session) => touched.push(`${node}/${session}`),
    (node, session) => closed.push(`${node}/${session}`),
  );
  return { touched, closed };
}

describe('ConnectionLiveness', () => {
  it('touches the sessions whose connection read bytes since the last sweep, and only those', () => {
    const l = new ConnectionLiveness(10_000);
    const busy = new FakeConnection();
    const quiet = new FakeConnection();
    l.watch('lb1', 's1', busy);
    l.watch('lb2', 's2', quiet);
    busy.bytesRead += 40;
    assert.deepEqual(sweep(l, 0), { touched: ['lb1/s1'], closed: [] });
    assert.deepEqual(sweep(l, 500), { touched: [], closed: [] }, 'nothing read since');
    busy.bytesRead += 40;
    quiet.bytesRead += 1;
    assert.deepEqual(sweep(l, 1000), { touched: ['lb1/s1', 'lb2/s2'], closed: [] });
  });

  it('closes a connection that read nothing for deadAfterMs, once, and watches it no more', () => {
    const l = new ConnectionLiveness(3000);
    const dead = new FakeConnection();
    const live = new FakeConnection();
    l.watch('lb1', 'dead', dead);
    l.watch('lb2', 'live', live);
    // Counted from the first sweep that saw the connection, not from a time before it.
    for (let now = 0; now < 3000; now += 500) {
      live.bytesRead += 40;
      assert.deepEqual(sweep(l, 1_000_000 + now), { touched: ['lb2/live'], closed: [] }, `at ${now} ms`);
    }
    assert.equal(dead.destroyed, 0, 'not before deadAfterMs');
    live.bytesRead += 40;
    assert.deepEqual(sweep(l, 1_003_000), { touched: ['lb2/live'], closed: ['lb1/dead'] });
    assert.equal(dead.destroyed, 1);
    assert.equal(l.size, 1);
    assert.deepEqual(sweep(l, 1_010_000), { touched: [], closed: ['lb2/live'] }, 'the other one, silent from 1,003,000 on');
    assert.deepEqual(sweep(l, 1_020_000), { touched: [], closed: [] });
    assert.equal(dead.destroyed, 1, 'closed once');
    assert.equal(live.destroyed, 1);
    assert.equal(l.size, 0);
  });

  it('counts silence from the last bytes read: a connection that reads now and then stays open', () => {
    const l = new ConnectionLiveness(3000);
    const c = new FakeConnection();
    l.watch('lb1', 's1', c);
    sweep(l, 0);
    for (let now = 1000; now <= 20_000; now += 1000) {
      if (now % 2000 === 0) c.bytesRead += 40; // a byte every 2 s, under the 3 s
      assert.deepEqual(sweep(l, now).closed, [], `at ${now} ms`);
    }
    assert.equal(c.destroyed, 0);
    assert.deepEqual(sweep(l, 23_000).closed, ['lb1/s1'], 'read last at 20,000');
  });

  it('an unwatched session is neither touched nor closed', () => {
    const l = new ConnectionLiveness(1000);
    const c = new FakeConnection();
    l.watch('lb1', 's1', c);
    sweep(l, 0);
    l.unwatch('s1');
    c.bytesRead += 1;
    assert.deepEqual(sweep(l, 5000), { touched: [], closed: [] });
    assert.equal(c.destroyed, 0);
  });

  it("the coordinator's bound: never under what the server's keepalive took, twice staleAfter above it", () => {
    assert.equal(deadConnectionMs(3500), DEAD_CONNECTION_MS);
    assert.equal(DEAD_CONNECTION_MS, 15_000);
    assert.equal(deadConnectionMs(20_000), 40_000);
  });

  it('derives the PING interval from the stale deadline: two PINGs per window, a relay one interval to report, never rarer than heartbeats', () => {
    const rows: Array<[interval: number, staleAfter: number, ping: number | undefined, expected: number]> = [
      [1000, 3500, undefined, 1750], // the defaults
      [1000, 3500, 1000, 1000], // set: as before
      [1000, 10_000, undefined, 5000],
      [200, 1000, undefined, 500],
      [1000, 1500, undefined, 1000], // staleAfter under two intervals: every interval, as before
      [1000, 2500, undefined, 1250],
      [500, 1200, undefined, 600],
    ];
    for (const [interval, staleAfter, ping, expected] of rows) {
      assert.equal(pingIntervalMs({ interval, staleAfter, ping }), expected, `interval ${interval}, staleAfter ${staleAfter}, ping ${ping}`);
    }
    // Wherever staleAfter leaves room for it, a relayed PING and the report after it fit in the window.
    for (let interval = 50; interval <= 5000; interval += 50) {
      for (let staleAfter = 2 * interval; staleAfter <= 20_000; staleAfter += 250) {
        const p = pingIntervalMs({ interval, staleAfter });
        assert.ok(p >= interval && p + interval <= staleAfter && 2 * p <= staleAfter, `interval ${interval}, staleAfter ${staleAfter}: ${p}`);
      }
    }
  });

  it('heartbeat.ping: unset by default; one that leaves a relayed report no room is refused, naming the setting', () => {
    const base = { grpc: { listen: ['127.0.0.1:0'] }, tls: { insecure: true } };
    const parsed = coordinatorConfigSchema.parse(base);
    assert.equal(parsed.heartbeat.ping, undefined);
    assert.equal(pingIntervalMs(parsed.heartbeat), 1750);
    assert.equal(pingIntervalMs(coordinatorConfigSchema.parse({ ...base, heartbeat: { ping: '1s' } }).heartbeat), 1000);
    const refused = coordinatorConfigSchema.safeParse({ ...base, heartbeat: { ping: '3s' } });
    assert.equal(refused.success, false);
    const issue = refused.error?.issues[0];
    assert.deepEqual(issue?.path, ['heartbeat', 'ping']);
    assert.match(issue?.message ?? '', /3000ms plus heartbeat\.interval \(1000ms\) must not exceed heartbeat\.staleAfter \(3500ms\)/);
  });

  /**
   * One agent's connection under the sweep and the registry as the server runs them (a sweep
   * every half heartbeat interval, after the reads): PINGs every `pingMs`, each `lateMs` late
   * (`lateMs(n)`), until `cutAtMs`. Returns when its node first went stale, if it did.
   */
  function simulate(o: { interval: number; staleAfter: number; pingMs: number; lateMs: (n: number) => number; cutAtMs: number; untilMs: number }): number | undefined {
    let now = 0;
    const registry = new Registry(o.staleAfter, () => now);
    const liveness = new ConnectionLiveness(deadConnectionMs(o.staleAfter));
    const c = new FakeConnection();
    const session = { id: 's1', peer: 'ipv4:10.0.0.5:4711', sendDesiredState: () => undefined, sendCommand: () => undefined, close: () => undefined };
    registry.attach({ node: 'lb1', cluster: 'web', agentVersion: 't', bootId: 'b', protocol: 1, appliedVersion: 0, recentResults: [], capabilities: [] }, session);
    liveness.watch('lb1', 's1', c);
    let staleAt: number | undefined;
    registry.subscribe((e) => {
      if (e.type === 'stale' && staleAt === undefined) staleAt = now;
    });
    const sweepMs = Math.max(50, Math.min(1000, o.interval / 2));
    // The next PING is sent `pingMs` after the previous one's answer, so lateness adds up.
    let nextPing = o.pingMs + o.lateMs(0);
    let n = 1;
    for (now = 0; now <= o.untilMs; now += 10) {
      if (now >= nextPing && nextPing < o.cutAtMs) {
        c.bytesRead += 17;
        nextPing = now + o.pingMs + o.lateMs(n++);
      }
      if (now % sweepMs === 0) {
        liveness.sweep(now, (node, id) => registry.touch(node, id));
        registry.sweep();
      }
    }
    return staleAt;
  }

  it('with the derived interval, a PING late by up to staleAfter - ping never makes its node stale; a cut path does within staleAfter', () => {
    const interval = 1000;
    const staleAfter = 3500;
    const pingMs = pingIntervalMs({ interval, staleAfter });
    const slack = staleAfter - pingMs;
    // Every PING late by almost the whole slack, and one now and then by all of it but a sweep's worth.
    const late = (n: number): number => (n % 7 === 3 ? slack - 100 : slack / 2);
    assert.equal(simulate({ interval, staleAfter, pingMs, lateMs: late, cutAtMs: Infinity, untilMs: 120_000 }), undefined, 'never stale');
    // The path cut at 60 s: the last PING got through before, the node is stale at most staleAfter
    // (and one sweep) after it, and not before staleAfter after the last PING.
    const cutAt = 60_000;
    const staleAt = simulate({ interval, staleAfter, pingMs, lateMs: () => 0, cutAtMs: cutAt, untilMs: 80_000 });
    assert.ok(staleAt !== undefined, 'stale after the cut');
    const lastPing = Math.floor(cutAt / pingMs - 1e-9) * pingMs;
    assert.ok(staleAt >= lastPing + staleAfter && staleAt <= lastPing + staleAfter + 500, `stale at ${staleAt}, last PING at ${lastPing}`);
    // The same lateness with a PING every staleAfter - 100 ms (too rare for the slack) does go stale.
    assert.notEqual(simulate({ interval, staleAfter, pingMs: staleAfter - 100, lateMs: () => 200, cutAtMs: Infinity, untilMs: 60_000 }), undefined);
  });
});
