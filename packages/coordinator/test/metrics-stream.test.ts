// /metrics written in slices: the event loop runs between them, the sink's backpressure is
// honoured, and the text is the same as one render in one go and holds every expected series once.
import { strict as assert } from 'node:assert';
import { stat } from 'node:fs';
import { describe, it } from 'node:test';
import type { NodeSnapshot } from '@lbha/shared';
import { CoordinatorMetrics } from '../src/metrics/coordinator-metrics.js';
import { METRICS } from '../src/metrics/metric-definitions.js';
import { streamExposition } from '../src/metrics/stream-exposition.js';
import { buildFleet } from './support/fake-fleet.js';

/** Keeps the thread busy for `ms` (stands for rendering work). */
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

describe('streamExposition', () => {
  it('lets the event loop run between slices of work and keeps the text in order', async () => {
    function* pieces(): Generator<string> {
      for (let i = 0; i < 10; i++) {
        spin(1);
        yield `line ${i}\n`;
      }
    }
    let ranBetween = 0;
    const ticker = setInterval(() => ranBetween++, 0);
    const chunks: Buffer[] = [];
    const figures = await streamExposition(pieces(), (c) => void chunks.push(c), 2);
    clearInterval(ticker);
    assert.equal(Buffer.concat(chunks).toString(), Array.from({ length: 10 }, (_, i) => `line ${i}\n`).join(''));
    assert.ok(figures.slices > 1, `one slice for 10 ms of work`);
    assert.ok(ranBetween > 0, 'no timer ran while the exposition was written');
  });

  it('hands a long piece to the sink as it is, and joins the short ones between', async () => {
    const long = Buffer.from(`${'y'.repeat(20 * 1024)}\n`);
    const chunks: Buffer[] = [];
    await streamExposition(['a\n', 'b\n', long, 'c\n', long, long, 'd\n'], (c) => void chunks.push(c), Infinity);
    assert.deepEqual(
      chunks.map((c) => (c === long ? 'long' : c.toString())),
      ['a\nb\n', 'long', 'c\n', 'long', 'long', 'd\n'],
      'a long piece is not copied into a chunk with its neighbours',
    );
  });

  it('writes nothing more until the sink is ready again', async () => {
    const big = 'x'.repeat(70 * 1024);
    let release: () => void = () => undefined;
    const written: number[] = [];
    const done = streamExposition(
      [big, big, big],
      (c) => {
        written.push(c.length);
        return new Promise<void>((resolve) => (release = resolve));
      },
      Infinity,
    );
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(written.length, 1, 'a second chunk was written before the sink drained');
    release();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(written.length, 2);
    release();
    await new Promise((r) => setTimeout(r, 20));
    release();
    await done;
    assert.deepEqual(written, [big.length, big.length, big.length]);
  });
});

describe('streamExposition after the sink drained', () => {
  it('lets the timers run between any two slices, also the slice that follows a drain', async () => {
    // The sink's first write waits for an I/O callback (the poll phase of a loop turn), as
    // gzip's drain does. A slice started right there and the one after its pause would run in
    // the same turn (poll, then check phase), with no timer between them.
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    const seen: number[] = [];
    function* pieces(): Generator<string> {
      yield 'x'.repeat(70 * 1024);
      for (let i = 0; i < 6; i++) {
        seen.push(ticks);
        spin(2);
        yield `line ${i}\n`;
      }
    }
    let first = true;
    try {
      await streamExposition(
        pieces(),
        () => {
          if (!first) return undefined;
          first = false;
          return new Promise<void>((resolve) => stat('.', () => resolve()));
        },
        1,
      );
    } finally {
      clearInterval(ticker);
    }
    for (let i = 1; i < seen.length; i++) assert.ok((seen[i] as number) > (seen[i - 1] as number), `no timer ran between slices ${i - 1} and ${i}: ${seen.join(',')}`);
  });
});

describe('CoordinatorMetrics.stream', () => {
  it('writes in slices the same samples as a render in one go', async () => {
    const fleet = buildFleet(700);
    const metrics = new CoordinatorMetrics({ registry: fleet.registry, placementView: () => fleet.placement, processMetrics: false, clock: () => 1_000 });
    try {
      const oneGo: Buffer[] = [];
      await metrics.stream((c) => void oneGo.push(c), () => 'lbha_extra 1\n', Infinity);
      const sliced: Buffer[] = [];
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 0);
      await metrics.stream((c) => void sliced.push(c), () => 'lbha_extra 1\n', 0);
      clearInterval(ticker);
      const text = Buffer.concat(sliced).toString();
      // Only the render duration gauge differs between two renders.
      const strip = (t: string) => t.replace(/^lbha_metrics_render_duration_seconds .*$/m, '');
      assert.equal(strip(text), strip(Buffer.concat(oneGo).toString()));
      assert.ok(ticks > 0, 'the event loop never ran during a sliced render');
      assert.ok(sliced.length > 1);
      assert.match(text, /^lbha_node_connected\{cluster="web-0699",node="web-0699-lb2"\} 1$/m);
      assert.match(text, /^lbha_vrrp_state\{cluster="web-0000",node="web-0000-lb1",vip="vip-a",state="master"\} 1$/m);
      assert.ok(text.endsWith('lbha_extra 1\n'));
      // One HELP per family, also for the families written in several pieces (700 clusters:
      // the VIP counts per condition span three pieces of 256 clusters).
      const helps = text.split('\n').filter((l) => l.startsWith('# HELP ')).map((l) => l.split(' ')[2]);
      assert.deepEqual(helps.filter((h, k) => helps.indexOf(h) !== k), [], 'a family with two HELP lines');
      assert.equal(text.match(/^lbha_vips\{/gm)?.length, 700 * 7);
      // Every family is written under one HELP, its samples together.
      const seen = new Set<string>();
      let current = '';
      for (const line of text.split('\n')) {
        if (line === '' || line.startsWith('#')) continue;
        const name = (/^[a-z_]+/.exec(line) as RegExpExecArray)[0].replace(/_(bucket|sum|count)$/, '');
        if (name !== current) {
          assert.ok(!seen.has(name), `${name} appears in two places`);
          seen.add(name);
          current = name;
        }
      }
      // ... and every family with samples (but the extra text, here bare) has its HELP and TYPE before its first sample.
      for (const name of [...seen].filter((x) => x !== 'lbha_extra')) {
        const first = text.search(new RegExp(`^${name}(_bucket|_sum|_count)?[{ ]`, 'm'));
        const type = text.lastIndexOf(`# TYPE ${name} `, first);
        assert.ok(type >= 0 && text.lastIndexOf(`# HELP ${name} `, type) >= 0 && !/\n[a-z]/.test(text.slice(type, first)), `${name} without its HELP and TYPE`);
      }
    } finally {
      metrics.close();
    }
  });
});

/** The sample lines a node's report must produce, derived here from the report itself. */
function expectedNodeLines(cluster: string, node: string, snap: NodeSnapshot): string[] {
  const d = METRICS;
  const n = `cluster="${cluster}",node="${node}"`;
  const out = [`${d.nodeConnected.name}{${n}} 1`, `${d.nodeHeartbeatAge.name}{${n}} 0`, `${d.desiredStateNacked.name}{${n}} 0`, `${d.nodeMode.name}{${n},state="active"} 1`];
  out.push(`${d.nodeHealthy.name}{${n}} ${snap.healthy ? 1 : 0}`);
  for (const s of snap.services) {
    out.push(`${d.serviceUp.name}{${n},service="${s.name}"} ${s.state === 'running' ? 1 : 0}`, `${d.serviceRestarts.name}{${n},service="${s.name}"} ${s.restarts}`);
    if (s.stats) out.push(`${d.proxyActiveConnections.name}{${n},service="${s.name}"} ${s.stats.activeConnections}`);
  }
  for (const c of snap.checks) {
    out.push(`${d.checkStatus.name}{${n},check="${c.name}",state="${c.result.kind}"} 1`, `${d.checkDuration.name}{${n},check="${c.name}"} ${c.durationMs / 1000}`);
  }
  for (const i of snap.instances) {
    out.push(`${d.vrrpState.name}{${n},vip="${i.name}",state="${i.state}"} 1`, `${d.vrrpPriority.name}{${n},vip="${i.name}"} ${i.effectivePriority}`);
  }
  return out;
}

describe('CoordinatorMetrics.stream, slice and chunk boundaries', () => {
  it('writes every expected series exactly once, before and after half the reports changed', async () => {
    // 1,400 nodes: every per-node family spans several slices of 256 nodes, the body many chunks.
    const fleet = buildFleet(700);
    const metrics = new CoordinatorMetrics({ registry: fleet.registry, placementView: () => fleet.placement, processMetrics: false, clock: () => 1_000 });
    const d = METRICS;
    const perNode = new Set<string>([d.nodeConnected, d.nodeHeartbeatAge, d.desiredStateNacked, d.nodeMode, d.nodeHealthy, d.serviceUp, d.serviceRestarts, d.proxyActiveConnections, d.checkStatus, d.checkDuration, d.vrrpState, d.vrrpPriority].map((m) => m.name));
    const check = async (): Promise<void> => {
      const chunks: Buffer[] = [];
      // A pause after every piece: the most slice boundaries there can be.
      await metrics.stream((c) => void chunks.push(c), undefined, 0);
      assert.ok(chunks.length > 20, `${chunks.length} chunks`);
      for (const c of chunks) assert.equal(c[c.length - 1], 0x0a, 'a chunk ends inside a line');
      const counts = new Map<string, number>();
      const nodeLines = new Set<string>();
      for (const line of Buffer.concat(chunks).toString().split('\n')) {
        if (line === '' || line.startsWith('# ')) continue;
        assert.match(line, /^[a-z_]+(\{[^{}]*\})? [^ ]+$/, `malformed line: ${line}`);
        const series = line.slice(0, line.lastIndexOf(' '));
        counts.set(series, (counts.get(series) ?? 0) + 1);
        if (perNode.has((/^[a-z_]+/.exec(line) as RegExpExecArray)[0])) nodeLines.add(line);
      }
      const twice = [...counts].filter(([, k]) => k > 1).map(([series]) => series);
      assert.deepEqual(twice, [], 'series written more than once');
      const expected = new Set<string>();
      for (const rec of fleet.registry.list()) for (const l of expectedNodeLines(rec.cluster, rec.name, rec.snapshot as NodeSnapshot)) expected.add(l);
      assert.equal(expected.size, 1400 * 20);
      assert.deepEqual([...expected].filter((l) => !nodeLines.has(l)).slice(0, 5), [], 'expected samples missing');
      assert.deepEqual([...nodeLines].filter((l) => !expected.has(l)).slice(0, 5), [], 'samples nobody expected');
      for (const p of fleet.placement) assert.equal(counts.get(`${d.vipHolders.name}{cluster="${p.cluster}",vip="${p.vip}"}`), 1, `${p.cluster}/${p.vip}`);
    };
    try {
      await check();
      // Every other node reports anew (a check got slower): rebuilt and cached nodes side by side.
      fleet.registry.list().forEach((rec, i) => {
        if (i % 2 === 1 || !rec.snapshot || !rec.session) return;
        const snap = rec.snapshot;
        fleet.registry.setSnapshot(rec.name, rec.session.id, { ...snap, checks: snap.checks.map((c) => ({ ...c, durationMs: c.durationMs + 5 })) });
      });
      await check();
    } finally {
      metrics.close();
    }
  });
});
