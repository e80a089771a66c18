import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { basePriorityProblem, limitPriority, limitTrackFileValue, MAX_PENALTY, MAX_PRIORITY, MIN_PRIORITY, TRACK_FILE_MAX, TRACK_FILE_MIN } from '../src/index.js';

describe('keepalived priority limits', () => {
  it('are keepalived 2.2.7 limits: 1..254 for non-owners, a weight-1 track file within -253..253', () => {
    assert.deepEqual([MIN_PRIORITY, MAX_PRIORITY, TRACK_FILE_MIN, TRACK_FILE_MAX, MAX_PENALTY], [1, 254, -253, 253, 253]);
    // The lowest track file value takes the highest base priority down to the lowest priority.
    assert.equal(MAX_PRIORITY + TRACK_FILE_MIN, MIN_PRIORITY);
  });

  it('limits a priority and a track file value', () => {
    for (const [raw, want] of [
      [-300, 1],
      [0, 1],
      [1, 1],
      [150, 150],
      [254, 254],
      [255, 254],
    ] as const) {
      assert.equal(limitPriority(raw), want, `priority ${raw}`);
    }
    for (const [raw, want] of [
      [-400, -253],
      [-253, -253],
      [20, 20],
      [253, 253],
      [400, 253],
    ] as const) {
      assert.equal(limitTrackFileValue(raw), want, `track file value ${raw}`);
    }
  });

  it('names what is wrong with a base priority', () => {
    assert.equal(basePriorityProblem(100), undefined);
    assert.equal(basePriorityProblem(1), undefined);
    assert.equal(basePriorityProblem(254), undefined);
    for (const bad of [0, 255, 100.5, -1]) {
      assert.equal(basePriorityProblem(bad), `must be 1..254 (255 is the address owner and ignores track files), got ${bad}`);
    }
  });
});
