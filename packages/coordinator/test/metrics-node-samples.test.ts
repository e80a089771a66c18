// A node's /metrics lines, written into one reused buffer and its view updated in place: the
// bytes are those of the plain rendering below (the one /metrics had before, kept here as the
// reference), for the same report, whatever the reports before it; and a scrape that runs while
// another still writes keeps the other's moment.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { formatValue, type NodeMode, type NodeSnapshot } from '@lbha/shared';
import { seededRandom } from '@lbha/test-support';
import { CoordinatorMetrics } from '../src/metrics/coordinator-metrics.js';
import { msToSeconds, pair } from '../src/metrics/exposition-writer.js';
import { METRICS } from '../src/metrics/metric-definitions.js';
import { MAX_PER_NODE, NODE_FAMILIES, nodeSamples, viewLines, type NodeView } from '../src/metrics/node-samples.js';
import { MAX_FOREIGN_PER_VIP } from '../src/vip-observation.js';
import { vipPieces, VipTable } from '../src/metrics/vip-samples.js';
import { VIP_CONDITIONS, type VipCondition } from '../src/metrics/metric-definitions.js';
import { buildFleet, check, instance, service, snapshot } from './support/fake-fleet.js';
import { holdScrapeAtFirstChunk } from './support/exposition.js';

/** Each family's lines for a node, one string per family, built the plain way. */
function reference(labels: string, mode: NodeMode, snap: NodeSnapshot | undefined): string[] {
  const texts = NODE_FAMILIES.map(() => '');
  const add = (id: (typeof NODE_FAMILIES)[number], l: string, v: number): void => {
    const f = NODE_FAMILIES.indexOf(id);
    texts[f] += `${METRICS[id].name}{${l}} ${formatValue(v)}\n`;
  };
  add('nodeMode', `${labels},state="${mode}"`, 1);
  if (snap) {
    add('nodeHealthy', labels, snap.healthy ? 1 : 0);
    for (const svc of snap.services.slice(0, MAX_PER_NODE.services)) {
      const l = `${labels},${pair('service', svc.name)}`;
      add('serviceUp', l, svc.state === 'running' ? 1 : 0);
      add('serviceRestarts', l, svc.restarts);
      if (svc.stats) add('proxyActiveConnections', l, svc.stats.activeConnections);
    }
    for (const c of snap.checks.slice(0, MAX_PER_NODE.checks)) {
      const l = `${labels},${pair('check', c.name)}`;
      add('checkStatus', `${l},state="${c.result.kind}"`, 1);
      add('checkDuration', l, msToSeconds(c.durationMs));
    }
    for (const i of snap.instances.slice(0, MAX_PER_NODE.instances)) {
      const l = `${labels},${pair('vip', i.name)}`;
      add('vrrpState', `${l},state="${i.state}"`, 1);
      add('vrrpPriority', l, i.effectivePriority);
      for (const r of (i.foreignRouters ?? []).slice(0, MAX_FOREIGN_PER_VIP)) add('vrrpForeignRouter', `${l},${pair('source', r.source)}`, r.priority);
    }
  }
  return texts;
}

/** Names that need escaping, bytes beyond ASCII, and plain ones. */
const NAMES = ['nginx', 'häproxy-ü', 'a"quoted"', 'back\\slash', 'new\nline', 'ノード', 'x'];

function randomSnapshot(rnd: () => number): NodeSnapshot {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const n = (max: number): number => Math.floor(rnd() * (max + 1));
  const services = Array.from({ length: n(rnd() < 0.05 ? MAX_PER_NODE.services + 3 : 3) }, (_, k) =>
    service(`${pick(NAMES)}-${k}`, pick(['nginx', 'haproxy', 'keepalived'] as const), { state: rnd() < 0.8 ? 'running' : 'stopped', restarts: n(rnd() < 0.1 ? 123456 : 9) }),
  );
  const checks = Array.from({ length: n(rnd() < 0.05 ? MAX_PER_NODE.checks + 2 : 4) }, (_, k) =>
    check(`${pick(NAMES)}-${k}`, { result: rnd() < 0.7 ? { kind: 'healthy' } : { kind: 'unhealthy', reason: 'x' }, durationMs: rnd() < 0.2 ? n(100000) + rnd() : n(20) }),
  );
  const instances = Array.from({ length: n(3) }, (_, k) =>
    instance(`${pick(NAMES)}-vip-${k}`, pick(['master', 'backup', 'fault'] as const), 1, {
      effectivePriority: n(255),
      foreignRouters: rnd() < 0.3 ? Array.from({ length: n(MAX_FOREIGN_PER_VIP + 2) }, (_, r) => ({ source: `10.0.0.${r}`, priority: n(255), lastSeenMs: 1 })) : undefined,
    }),
  );
  return snapshot(instances, { services, checks, healthy: rnd() < 0.8 });
}

function familiesOf(view: NodeView): string[] {
  return NODE_FAMILIES.map((_, f) => view.text.toString('utf8', view.offsets[f], view.offsets[f + 1]));
}

describe('nodeSamples', () => {
  it('writes the bytes of the plain rendering, rebuilt in place or not, after any earlier report', () => {
    const rnd = seededRandom(19);
    for (const inPlace of [true, false]) {
      for (const labels of [`${pair('cluster', 'web')},${pair('node', 'lb1')}`, `${pair('cluster', 'wéb "x"')},${pair('node', 'nœud\\1')}`]) {
        let view: NodeView | undefined;
        for (let k = 0; k < 400; k++) {
          const mode = (['active', 'draining', 'maintenance'] as const)[k % 3] as NodeMode;
          // A silent node now and then: its mode only.
          const snap = k % 17 === 5 ? undefined : randomSnapshot(rnd);
          const before = view;
          view = nodeSamples('web', labels, mode, snap, k, view, inPlace);
          assert.deepEqual(familiesOf(view), reference(labels, mode, snap), `report ${k}`);
          assert.equal(view.offsets[NODE_FAMILIES.length], Buffer.byteLength(reference(labels, mode, snap).join('')));
          assert.equal(view.snapshot, snap);
          assert.equal(view.mode, mode);
          if (before) assert.equal(view === before, inPlace, 'updated in place exactly when asked');
        }
      }
    }
  });

  it('keeps the lines of an earlier view when not in place (another scrape still reads them)', () => {
    const rnd = seededRandom(7);
    const labels = `${pair('cluster', 'web')},${pair('node', 'lb1')}`;
    const first = nodeSamples('web', labels, 'active', randomSnapshot(rnd), 1);
    const kept = familiesOf(first);
    nodeSamples('web', labels, 'active', randomSnapshot(rnd), 2, first, false);
    assert.deepEqual(familiesOf(first), kept);
  });
});

describe('viewLines', () => {
  it('writes one line per view, as the plain template would, for any labels and values', () => {
    const rnd = seededRandom(3);
    const views = Array.from({ length: 300 }, (_, k) => {
      const labels = `${pair('cluster', NAMES[k % NAMES.length] as string)},${pair('node', `n${k}-${NAMES[(k * 3) % NAMES.length] as string}`)}`;
      return nodeSamples('c', labels, 'active', undefined, 1);
    });
    const values = views.map(() => (rnd() < 0.5 ? Math.floor(rnd() * 10) : Math.round(rnd() * 1e6) / 1000));
    for (const [from, to] of [[0, 300], [0, 0], [17, 256], [256, 300]] as const) {
      const expected = views.slice(from, to).map((v, k) => `lbha_x{${v.labels}} ${formatValue(values[from + k] as number)}\n`).join('');
      assert.equal(viewLines(views, from, to, 'lbha_x', (i) => values[i] as number).toString('utf8'), expected);
    }
  });
});

describe('numbers written as bytes', () => {
  it('spells every value as formatValue does, and milliseconds as msToSeconds then formatValue', () => {
    const rnd = seededRandom(11);
    const views = [nodeSamples('c', `${pair('cluster', 'c')},${pair('node', 'n')}`, 'active', undefined, 1)];
    const edges = [0, -0, 1, -1, 9, 10, 99, 100, 101, 999, 1000, 1001, 123456789, -987654321, 2 ** 31, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53, 1e21, 1e-7, 0.1 + 0.2, 1.5, -0.001, NaN, Infinity, -Infinity];
    const ms = [0, -0, 0.4, 0.5, 1.5, 5, 50, 120, 999.4, 999.5, 1000, 1005, 1050, 1234567, 1234567.5, -1.5, -1000, -1200, 1e12 + 7, 1e15 - 1, 1e15, 1e18, 2 ** 53, NaN, Infinity];
    const randomValues = Array.from({ length: 4000 }, () => {
      const x = rnd();
      return x < 0.3 ? Math.floor(rnd() * 1e6) : x < 0.6 ? Math.round(rnd() * 1e9) / 1000 : x < 0.8 ? (rnd() - 0.5) * 10 ** Math.floor(rnd() * 30 - 10) : -Math.floor(rnd() * 2 ** 53);
    });
    for (const v of [...edges, ...ms, ...randomValues]) {
      assert.equal(viewLines(views, 0, 1, 'x', () => v).toString(), `x{cluster="c",node="n"} ${formatValue(v)}\n`, `value ${v}`);
      assert.equal(viewLines(views, 0, 1, 'x', () => v, 'ms-as-seconds').toString(), `x{cluster="c",node="n"} ${formatValue(msToSeconds(v))}\n`, `milliseconds ${v}`);
    }
  });
});

describe('vipPieces', () => {
  it('writes the lines of the plain rendering, escaped, in pieces of `slice` rows or clusters', () => {
    const clusters = new Set(['web', 'wéb "2"', 'back\\slash', 'ノード', 'empty']);
    interface Plain {
      readonly cluster: string;
      readonly labels: string;
      readonly holders: string[];
      readonly desired: string;
      readonly status: VipCondition | undefined;
    }
    const table = new VipTable();
    const d = METRICS;
    // The same table filled twice, the second time with other holders and verdicts and one
    // cluster fewer: what the rows held in the first scrape must not show in the second.
    for (const [scrape, shift] of [[1, 0], [2, 1]] as const) {
      const plainRows: Plain[] = [];
      table.begin(scrape);
      let k = shift;
      for (const c of clusters) {
        if (scrape === 2 && c === 'web') continue;
        table.cluster(c);
        if (c === 'empty') continue;
        for (const v of ['vip-a', 'vïp "b"']) {
          const holders = [[], [`${c}-lb1`], [`${c}-lb1`, 'n\nl'], ['ü']][k % 4] as string[];
          const desired = k % 3 === 0 ? '' : `d"${k}`;
          const status = k % 5 === 0 ? 'healing' : undefined;
          const row = table.row(c, v);
          for (const h of holders) table.hold(row, h);
          row.desired = desired;
          row.status = status;
          plainRows.push({ cluster: c, labels: `${pair('cluster', c)},${pair('vip', v)}`, holders, desired, status });
          k++;
        }
      }
      for (const x of table.endPass()) assert.equal(x, '');
      const plain = (def: { name: string; help: string; type: string }, lines: string[]): string => `# HELP ${def.name} ${def.help}\n# TYPE ${def.name} ${def.type}\n${lines.join('')}`;
      const condition = (r: Plain): string => r.status ?? (r.holders.length === 0 ? 'orphaned' : r.holders.length > 1 ? 'split_brain' : r.desired && r.holders[0] !== r.desired ? 'diverged' : 'in_place');
      const met = [...clusters].filter((c) => scrape === 1 || c !== 'web');
      const counts = new Map(met.map((c) => [c, Object.fromEntries(VIP_CONDITIONS.map((x) => [x, 0])) as Record<string, number>]));
      for (const r of plainRows) (counts.get(r.cluster) as Record<string, number>)[condition(r)]++;
      const expected =
        plain(d.vipHolders, plainRows.map((r) => `${d.vipHolders.name}{${r.labels}} ${r.holders.length}\n`)) +
        plain(d.vipHolder, plainRows.flatMap((r) => r.holders.map((h) => `${d.vipHolder.name}{${r.labels},${pair('node', h)}} 1\n`))) +
        plain(d.vipDesiredHolder, plainRows.filter((r) => r.desired).map((r) => `${d.vipDesiredHolder.name}{${r.labels},${pair('node', r.desired)}} 1\n`)) +
        plain(d.vipStatus, plainRows.map((r) => `${d.vipStatus.name}{${r.labels},state="${condition(r)}"} 1\n`)) +
        plain(d.vips, [...counts].flatMap(([c, n]) => VIP_CONDITIONS.map((x) => `${d.vips.name}{${pair('cluster', c)},state="${x}"} ${n[x]}\n`)));
      const pieces = [...vipPieces(table, 3)];
      assert.equal(Buffer.concat(pieces).toString('utf8'), expected, `scrape ${scrape}`);
      assert.ok(pieces.length >= 4 * Math.ceil(plainRows.length / 3) + 1, `${pieces.length} pieces`);
    }
  });
});

describe('CoordinatorMetrics, a scrape while another writes', () => {
  it('keeps the moment each started at; a scrape alone after them sees the newest reports', async () => {
    const fleet = buildFleet(300);
    const metrics = new CoordinatorMetrics({ registry: fleet.registry, placementView: () => fleet.placement, processMetrics: false, clock: () => 1_000 });
    const churn = (durationMs: number): void => {
      for (const rec of fleet.registry.list()) {
        if (!rec.snapshot || !rec.session) continue;
        const snap = rec.snapshot;
        fleet.registry.setSnapshot(rec.name, rec.session.id, { ...snap, checks: snap.checks.map((c) => ({ ...c, durationMs })) });
      }
    };
    const durations = (text: string): Set<string> => new Set([...text.matchAll(/^lbha_check_duration_seconds\{[^}]*\} (.*)$/gm)].map((m) => m[1] as string));
    try {
      churn(11);
      await metrics.render(); // the views exist and no scrape is in flight: the next one rebuilds in place
      churn(22);
      // The first scrape pauses at its first chunk (after its first pass over the nodes) ...
      const first = await holdScrapeAtFirstChunk(metrics);
      // ... every node reports anew, and a second scrape runs to its end meanwhile.
      churn(33);
      const second = (await metrics.render()).body;
      first.release();
      await first.done;
      assert.deepEqual(durations(Buffer.concat(first.chunks).toString()), new Set(['0.022']));
      assert.deepEqual(durations(second), new Set(['0.033']));
      churn(44);
      assert.deepEqual(durations((await metrics.render()).body), new Set(['0.044']));
    } finally {
      metrics.close();
    }
  });
});
