// The lab's reading of `ip -ts monitor neigh` (lines as iproute2 6.1 prints them): the time of a
// change is ip's stamp, not when the test process got round to the line.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseNeighbourLine } from '../lab/neighbour-watch.js';

describe('neighbour watch lines', () => {
  it('take the time from ip\'s stamp (local time), to the millisecond', () => {
    const c = parseNeighbourLine('[2026-12-03T22:34:27.414102] 10.99.0.5 dev d0 lladdr 02:00:00:00:00:06 REACHABLE ', 1);
    assert.deepEqual(c, { t: new Date(2026, 11, 3, 22, 34, 27, 414).getTime(), address: '10.99.0.5', mac: '02:00:00:00:00:06', state: 'REACHABLE', deleted: false });
  });

  it('read deletions and entries without a link-layer address', () => {
    const d = parseNeighbourLine('[2026-12-03T22:34:27.418083] Deleted 10.99.0.5 dev d0 FAILED ', 1);
    assert.equal(d?.deleted, true);
    assert.equal(d?.mac, undefined);
    assert.equal(d?.state, 'FAILED');
  });

  it('fall back to the given time for a line without a stamp, and ignore what is not a neighbour line', () => {
    assert.equal(parseNeighbourLine('192.168.20.28 dev eth1 lladdr 12:c6:ae:ee:2e:ad STALE', 42)?.t, 42);
    assert.equal(parseNeighbourLine('[2026-12-03T22:34:27.418083] something else', 42), undefined);
  });
});
