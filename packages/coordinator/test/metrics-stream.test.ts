// /metrics written in slices: the event loop runs between them, the sink's backpressure is
// honoured, and the text is the same as one render in one go.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { CoordinatorMetrics } from '../src/metrics/coordinator-metrics.js';
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
    } finally {
      metrics.close();
    }
  });
});
