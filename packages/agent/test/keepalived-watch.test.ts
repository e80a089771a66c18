// When a keepalived that runs counts as frozen: stopped for two advert intervals (at least
// 200 ms), or MASTER of an instance whose adverts were not seen leaving; the watch acts once per
// keepalived process.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { frozenReason, KeepalivedWatch, stoppedLongEnoughMs, type KeepalivedLook } from '../src/core/keepalived-watch.js';

const T0 = 1_700_000_000_000;
const LOOK: KeepalivedLook = { nowMs: T0, pid: 100, stoppedPids: [], masters: [], advertIntMs: 100 };

describe('a frozen keepalived', () => {
  it('stopped for two advert intervals (at least 200 ms) is frozen; a moment is not', () => {
    assert.equal(stoppedLongEnoughMs(100), 200);
    assert.equal(stoppedLongEnoughMs(1000), 2000);
    assert.equal(frozenReason({ ...LOOK, stoppedPids: [101] }, T0 - 199), undefined);
    assert.equal(frozenReason({ ...LOOK, stoppedPids: [101] }, T0 - 200), 'keepalived is stopped (process 101 in state T) for 200 ms');
    assert.equal(frozenReason(LOOK, T0 - 5000), undefined, 'not stopped (any more)');
  });

  it('a MASTER whose adverts do not leave is frozen, once the reading is recent enough to tell', () => {
    const silent = (readAtMs: number, sinceMs = T0 - 10_000) => ({ ...LOOK, masters: [{ instance: 'vip1', sinceMs, sent: { sent: false, readAtMs } }] });
    assert.equal(frozenReason(silent(T0), undefined), 'keepalived reports MASTER of vip1 but sends no adverts for it');
    assert.equal(frozenReason(silent(T0, T0 - 1000), undefined), undefined, 'became MASTER too recently for the reading to tell');
    assert.equal(frozenReason({ ...LOOK, masters: [{ instance: 'vip1', sinceMs: T0 - 10_000, sent: { sent: true, readAtMs: T0 } }] }, undefined), undefined);
    assert.equal(frozenReason({ ...LOOK, masters: [{ instance: 'vip1', sinceMs: T0 - 10_000, sent: undefined }] }, undefined), undefined, 'nothing watched: no verdict');
  });

  it('the watch acts once per keepalived process, and judges a new one afresh', () => {
    let now = T0;
    let look: KeepalivedLook | undefined = { ...LOOK, stoppedPids: [101] };
    const acted: string[] = [];
    const w = new KeepalivedWatch({ intervalMs: 100, now: () => now, look: () => (look ? { ...look, nowMs: now } : undefined), onFrozen: (r) => acted.push(r) });
    for (let i = 0; i < 5; i++, now += 100) w.sample();
    assert.deepEqual(acted, ['keepalived is stopped (process 101 in state T) for 200 ms']);
    look = { ...LOOK, pid: 200, stoppedPids: [] };
    w.sample();
    look = { ...LOOK, pid: 200, stoppedPids: [201] };
    for (let i = 0; i < 3; i++, now += 100) w.sample();
    assert.equal(acted.length, 2, 'the new keepalived, stopped too, is acted on');
    look = undefined;
    w.sample();
    assert.equal(acted.length, 2);
  });
});
