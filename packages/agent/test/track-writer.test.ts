// The track file writer's two timing rules, with the clock passed in: the health gate at start
// and the deferral of placement raises on BACKUP instances. Real files in a temp dir.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { silentLogger, type VrrpState } from '@lbha/shared';
import { AgentMetrics } from '../src/agent-metrics.js';
import { raiseDelayMs, TrackWriter, type TrackInput } from '../src/core/track-writer.js';
import { keepalivedFiles } from '../src/keepalived/keepalived-files.js';
import { TrackFiles } from '../src/keepalived/track-files.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const T0 = 1_700_000_000_000;
const ADVERT = 100;
const WAIT = raiseDelayMs(ADVERT);

async function writer(): Promise<{ w: TrackWriter; read(file: string): string | undefined }> {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-track-'));
  dirs.push(dir);
  const files = keepalivedFiles({ configFile: join(dir, 'keepalived.conf'), notifyFifo: join(dir, 'fifo'), trackDir: join(dir, 'track') });
  const w = new TrackWriter({ files, tracks: new TrackFiles(), logger: silentLogger(), metrics: new AgentMetrics({ defaultMetrics: false }) });
  await w.init();
  const read = (file: string): string | undefined => {
    const path = join(dir, 'track', file);
    return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
  };
  return { w, read };
}

function input(placement: number | undefined, state: VrrpState | undefined, over: Partial<TrackInput> = {}): TrackInput {
  return {
    faults: [],
    placements: new Map(placement === undefined ? [] : [['vip-28', placement]]),
    checksSettled: true,
    vrrpState: () => state,
    advertIntMs: ADVERT,
    ...over,
  };
}
const FAULT = { faults: [{ source: 'check:nginx-process', reason: 'check nginx-process: nginx is down' }] };

describe('track writer: health gate', () => {
  it('leaves the health file alone before start has looked at keepalived', async () => {
    const { w, read } = await writer();
    assert.equal(w.write(input(20, undefined, FAULT), T0), undefined);
    await w.flushed();
    assert.equal(read('health'), undefined);
    assert.equal(read('placement-vip-28'), '20', 'placement is not gated');
    assert.equal(w.healthGate, 'starting');
  });

  for (const row of [
    { keepalived: 'started by the agent', adopted: false, before: '1', gate: 'fault' },
    { keepalived: 'adopted', adopted: true, before: undefined, gate: 'hold' },
  ] as const) {
    it(`with keepalived ${row.keepalived}: ${row.before ?? 'untouched'} until every check has a verdict, then follows the checks`, async () => {
      const { w, read } = await writer();
      w.closeGate(row.adopted);
      w.settleBy(T0 + 5_000);
      assert.equal(w.write(input(20, undefined, { checksSettled: false }), T0), T0 + 5_000, 'wakes up at the settle deadline');
      await w.flushed();
      assert.equal(read('health'), row.before);
      assert.equal(w.healthGate, row.gate);
      assert.equal(w.write(input(20, undefined, { checksSettled: true }), T0 + 10), undefined);
      await w.flushed();
      assert.equal(read('health'), '0');
      assert.equal(w.healthGate, 'open');
      w.write(input(20, undefined, { ...FAULT, checksSettled: true }), T0 + 20);
      await w.flushed();
      assert.equal(read('health'), '1');
    });
  }

  it('opens at the settle deadline when a check never settles', async () => {
    const { w, read } = await writer();
    w.closeGate(true);
    w.settleBy(T0 + 5_000);
    const unsettled = input(20, undefined, { checksSettled: false });
    assert.equal(w.write(unsettled, T0 + 4_999), T0 + 5_000);
    await w.flushed();
    assert.equal(read('health'), undefined);
    assert.equal(w.write(unsettled, T0 + 5_000), undefined);
    await w.flushed();
    assert.equal(read('health'), '0');
    assert.equal(w.healthGate, 'open');
  });

  it('does not open before the deadline is set, however settled the checks are', async () => {
    const { w, read } = await writer();
    w.closeGate(false);
    w.write(input(20, undefined, { checksSettled: false }), T0 + 60_000);
    await w.flushed();
    assert.equal(read('health'), '1', 'a fresh keepalived is held in FAULT');
    assert.equal(w.healthGate, 'fault');
  });
});

describe('track writer: placement raises on a BACKUP wait a master-down interval', () => {
  const rows: ReadonlyArray<{ rule: string; state: VrrpState | undefined; next: number; written: string; wake: number | undefined }> = [
    { rule: 'a raise on a BACKUP waits', state: 'backup', next: 50, written: '20', wake: T0 + 1 + WAIT },
    { rule: 'a drop on a BACKUP is written at once', state: 'backup', next: -30, written: '-30', wake: undefined },
    { rule: 'an unchanged value on a BACKUP is written (nothing changes)', state: 'backup', next: 20, written: '20', wake: undefined },
    { rule: 'a raise on a MASTER is written at once', state: 'master', next: 50, written: '50', wake: undefined },
    { rule: 'a raise in FAULT is written at once', state: 'fault', next: 50, written: '50', wake: undefined },
    { rule: 'a raise on an instance keepalived has not reported is written at once', state: undefined, next: 50, written: '50', wake: undefined },
  ];
  for (const row of rows) {
    it(row.rule, async () => {
      const { w, read } = await writer();
      assert.equal(w.write(input(20, row.state), T0), undefined, 'the first value is written at once');
      assert.equal(w.write(input(row.next, row.state), T0 + 1), row.wake);
      await w.flushed();
      assert.equal(read('placement-vip-28'), row.written);
    });
  }

  it('writes a deferred raise once it is due, and never flaps back in between', async () => {
    const { w, read } = await writer();
    w.write(input(20, 'backup'), T0);
    assert.equal(w.write(input(50, 'backup'), T0), T0 + WAIT);
    for (const t of [T0 + 1, T0 + WAIT / 2, T0 + WAIT - 1]) {
      assert.equal(w.write(input(50, 'backup'), t), T0 + WAIT, 'the wait is not restarted by other refreshes');
      await w.flushed();
      assert.equal(read('placement-vip-28'), '20');
    }
    assert.equal(w.write(input(50, 'backup'), T0 + WAIT), undefined);
    await w.flushed();
    assert.equal(read('placement-vip-28'), '50');
    assert.equal(w.write(input(50, 'master'), T0 + WAIT + 1), undefined);
    await w.flushed();
    assert.equal(read('placement-vip-28'), '50');
  });

  it('restarts the wait when the raise changes, and drops a pending raise for a drop', async () => {
    const { w, read } = await writer();
    w.write(input(20, 'backup'), T0);
    assert.equal(w.write(input(50, 'backup'), T0), T0 + WAIT);
    assert.equal(w.write(input(40, 'backup'), T0 + 100), T0 + 100 + WAIT);
    assert.equal(w.write(input(40, 'backup'), T0 + WAIT), T0 + 100 + WAIT, 'the first due time no longer counts');
    assert.equal(w.write(input(-30, 'backup'), T0 + WAIT + 1), undefined);
    await w.flushed();
    assert.equal(read('placement-vip-28'), '-30');
  });

  it('scales the wait with the advert interval', async () => {
    const { w } = await writer();
    w.write(input(20, 'backup', { advertIntMs: 1_000 }), T0);
    assert.equal(w.write(input(50, 'backup', { advertIntMs: 1_000 }), T0), T0 + 3_050);
  });

  it('forgets a removed instance, pending raise included', async () => {
    const { w, read } = await writer();
    w.write(input(20, 'backup'), T0);
    w.write(input(50, 'backup'), T0);
    w.forget('vip-28');
    assert.equal(w.write(input(undefined, 'backup'), T0 + 1), undefined, 'nothing left to wake up for');
    await w.flushed();
    assert.equal(read('placement-vip-28'), '20');
  });
});
