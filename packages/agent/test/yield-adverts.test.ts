// The adverts a node repeats after giving a VIP up in a split brain (core/yield-adverts.ts),
// on a fake clock: two per advert interval, a fixed number, ended by the node holding the VIP
// again, and a late look sends one, not a burst. Also the packets they become.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { YIELD_PRIORITY, YIELD_REPEATS, YieldAdverts } from '../src/core/yield-adverts.js';
import { leavingAdverts } from '../src/keepalived/leaving-adverts.js';
import { NGINX_ACTIVE_ACTIVE } from './fixtures/desired-states.js';

/** Runs the repeats on a fake clock, looking when asked to, until nothing is left or `untilMs`. */
function drive(y: YieldAdverts, fromMs: number, untilMs: number, lateMs = 0): Array<{ atMs: number; instances: readonly string[] }> {
  const sent: Array<{ atMs: number; instances: readonly string[] }> = [];
  let wake = y.due(fromMs).wakeAtMs;
  while (wake !== undefined && wake <= untilMs) {
    const at = wake + lateMs;
    const d = y.due(at);
    if (d.instances.length > 0) sent.push({ atMs: at, instances: d.instances });
    wake = d.wakeAtMs;
  }
  return sent;
}

describe('adverts repeated after a yield', () => {
  it('go out twice per advert interval, starting half an interval after the yield, YIELD_REPEATS times', () => {
    const y = new YieldAdverts();
    y.yielded('vip2', 1_000, 100);
    assert.deepEqual(y.due(1_000).instances, [], 'keepalived sent one as it yielded');
    assert.deepEqual(y.due(1_049).instances, []);
    const sent = drive(y, 1_000, 60_000);
    assert.equal(sent.length, YIELD_REPEATS);
    assert.deepEqual(sent.map((s) => s.atMs), Array.from({ length: YIELD_REPEATS }, (_, i) => 1_050 + i * 50));
    assert.equal(sent.at(-1)?.atMs, 2_000, 'for ten advert intervals');
    assert.ok(sent.every((s) => s.instances.length === 1 && s.instances[0] === 'vip2'));
    assert.deepEqual(y.active, [], 'nothing left after the last one');
    assert.equal(y.due(70_000).wakeAtMs, undefined);
  });

  it('whenever the holder starts hearing again within the window, an advert reaches it within half an interval', () => {
    const y = new YieldAdverts();
    y.yielded('vip2', 0, 100);
    const times = drive(y, 0, 60_000).map((s) => s.atMs);
    for (let healedAt = 0; healedAt <= 1_000; healedAt += 7) {
      const next = times.find((t) => t >= healedAt);
      assert.ok(next !== undefined && next - healedAt <= 50, `healed at ${healedAt}: next advert at ${next}`);
    }
  });

  it('stop when the node holds the VIP again, or the instance is gone', () => {
    const y = new YieldAdverts();
    y.yielded('vip1', 0, 100);
    y.yielded('vip2', 25, 100);
    assert.deepEqual(y.due(50).instances, ['vip1']);
    y.stop('vip1');
    assert.deepEqual(y.due(75), { instances: ['vip2'], wakeAtMs: 125 });
    y.stop('vip2');
    assert.deepEqual(y.due(10_000), { instances: [], wakeAtMs: undefined });
  });

  it('keep separate times per instance and wake at the earliest', () => {
    const y = new YieldAdverts();
    y.yielded('vip1', 0, 1_000);
    y.yielded('vip2', 300, 100);
    assert.equal(y.due(300).wakeAtMs, 350);
    const sent = drive(y, 300, 60_000);
    assert.equal(sent.filter((s) => s.instances.includes('vip1')).length, YIELD_REPEATS);
    assert.equal(sent.filter((s) => s.instances.includes('vip2')).length, YIELD_REPEATS);
    assert.equal(sent.find((s) => s.instances.includes('vip1'))?.atMs, 500);
    assert.equal(sent.filter((s) => s.instances.includes('vip2')).at(-1)?.atMs, 300 + YIELD_REPEATS * 50);
  });

  it('a second yield starts the window again', () => {
    const y = new YieldAdverts();
    y.yielded('vip1', 0, 100);
    drive(y, 0, 500);
    y.yielded('vip1', 500, 100);
    assert.equal(drive(y, 500, 60_000).length, YIELD_REPEATS);
  });

  it('a late look sends one advert, not the ones it missed, and keeps the interval after it', () => {
    const y = new YieldAdverts();
    y.yielded('vip1', 0, 200);
    assert.deepEqual(y.due(350), { instances: ['vip1'], wakeAtMs: 450 });
    assert.deepEqual(y.due(450).instances, ['vip1']);
    // A timer a little late does not shift the schedule.
    assert.deepEqual(y.due(560), { instances: ['vip1'], wakeAtMs: 650 });
  });

  it('never repeat faster than every 10 ms', () => {
    const y = new YieldAdverts();
    y.yielded('vip1', 0, 10);
    assert.equal(y.due(0).wakeAtMs, 10);
  });

  it('become lowest-priority VRRPv3 adverts from the node, with the VIP', () => {
    const d = NGINX_ACTIVE_ACTIVE;
    const inst = d.instances[1];
    assert.ok(inst);
    const addrs = new Map([['eth1', new Set(['192.168.20.19/24', '192.168.20.28/24'])]]);
    const [p, ...rest] = leavingAdverts(d, new Set([inst.name]), addrs, YIELD_PRIORITY);
    assert.equal(rest.length, 0);
    assert.equal(p?.src, '192.168.20.19');
    assert.equal(p?.payload[0], 0x31, 'version 3, advertisement');
    assert.equal(p?.payload[1], inst.vrid);
    assert.equal(p?.payload[2], 1, 'priority 1: below any holder, and not 0 (a master answers 0 with an advert only)');
  });
});
