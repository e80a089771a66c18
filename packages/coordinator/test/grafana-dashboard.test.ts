// deploy/grafana/lbha-dashboard.json: importable, its data source a variable, and every query
// built only from metrics the coordinator defines (metric-definitions.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { CoordinatorMetrics } from '../src/metrics/coordinator-metrics.js';
import { PROCESS_METRICS_PREFIX, sampleNames } from '../src/metrics/metric-definitions.js';
import { Registry } from '../src/registry.js';
import { STORE_METRICS } from '../src/etcd/etcd-coordination.js';
import { parseExposition } from './support/exposition.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const DS = '${DS_PROMETHEUS}';

interface Target {
  readonly expr?: string;
  readonly refId?: string;
  readonly datasource?: { readonly type?: string; readonly uid?: string };
}
interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly datasource?: { readonly type?: string; readonly uid?: string };
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}
interface Dashboard {
  readonly title: string;
  readonly uid: string;
  readonly schemaVersion: number;
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: ReadonlyArray<{ name: string; type: string; query: unknown; datasource?: { uid?: string } }> };
  readonly annotations: { readonly list: ReadonlyArray<{ expr?: string; datasource?: { uid?: string } }> };
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/**
 * Metric names a PromQL expression selects: identifiers left after removing strings, label
 * matchers, ranges, grouping lists and Grafana variables, that are not function calls or keywords.
 */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const out: string[] = [];
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = stripped.slice((m.index ?? 0) + m[0].length);
    if (/^\s*\(/.test(after) || KEYWORDS.has(m[0].toLowerCase())) continue;
    if (/^\d/.test(m[0])) continue;
    out.push(m[0]);
  }
  return out;
}

function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/lbha-dashboard.json'), 'utf8')) as Dashboard;
}

function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

async function definedNames(): Promise<Set<string>> {
  const names = sampleNames();
  const metrics = new CoordinatorMetrics({ registry: new Registry(3500) });
  for (const s of parseExposition((await metrics.render()).body)) if (s.name.startsWith(PROCESS_METRICS_PREFIX)) names.add(s.name);
  metrics.close();
  return names;
}

describe('Grafana dashboard', () => {
  it('finds metric names in PromQL', () => {
    assert.deepEqual(metricNames('histogram_quantile(0.95, sum by (le) (rate(lbha_x_bucket{cluster=~"$cluster"}[$__rate_interval])))'), ['lbha_x_bucket']);
    assert.deepEqual(metricNames('lbha_a{state="up"} == 1 unless on (cluster, node) lbha_b > 0.5'), ['lbha_a', 'lbha_b']);
    assert.deepEqual(metricNames('label_values(lbha_node_connected, cluster)'), ['lbha_node_connected', 'cluster']);
  });

  it('is an importable dashboard whose data source is a variable', () => {
    const d = loadDashboard();
    assert.equal(d.title, 'lbha');
    assert.equal(d.uid, 'lbha-overview');
    assert.ok(d.schemaVersion >= 36);
    const ds = d.templating.list.find((v) => v.name === 'DS_PROMETHEUS');
    assert.deepEqual({ type: ds?.type, query: ds?.query }, { type: 'datasource', query: 'prometheus' });
    const ids = new Set<number>();
    for (const p of allPanels(d)) {
      assert.ok(!ids.has(p.id), `panel id ${p.id} is used twice`);
      ids.add(p.id);
      assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title} fits the 24-column grid`);
      if (p.type === 'row') continue;
      assert.equal(p.datasource?.uid, DS, `${p.title}: data source`);
      assert.ok((p.targets ?? []).length > 0, `${p.title} has queries`);
      for (const t of p.targets ?? []) {
        assert.equal(t.datasource?.uid, DS, `${p.title} ${t.refId}: data source`);
        assert.ok(t.expr && t.expr.trim() !== '', `${p.title} ${t.refId}: expression`);
      }
    }
    // Nothing may name a data source instance of one particular Grafana.
    const text = JSON.stringify(d);
    for (const m of text.matchAll(/"uid":\s*"([^"]*)"/g)) {
      assert.ok(['${DS_PROMETHEUS}', '-- Grafana --', 'lbha-overview'].includes(m[1] as string), `hard-coded uid ${m[1]}`);
    }
  });

  it('has the overview, VIP holders, health, failovers, drains and connections', () => {
    const rows = loadDashboard().panels.filter((p) => p.type === 'row').map((p) => p.title);
    for (const r of ['Cluster overview', 'VIP holders', 'Health', 'Failovers', 'Drains and operations', 'Connections']) assert.ok(rows.includes(r), `row ${r}`);
    const titles = allPanels(loadDashboard()).map((p) => p.title);
    for (const t of ['Actual holder per VIP', 'Failover duration (all clusters)', 'Failovers by reason', 'Nodes by mode', 'Active connections per node']) {
      assert.ok(titles.includes(t), `panel ${t}`);
    }
  });

  it('queries only metrics the coordinator defines', async () => {
    const d = loadDashboard();
    const defined = await definedNames();
    const exprs: Array<[string, string]> = [];
    for (const p of allPanels(d)) for (const t of p.targets ?? []) exprs.push([`${p.title} ${t.refId}`, t.expr ?? '']);
    for (const a of d.annotations.list) if (a.expr) exprs.push(['annotation', a.expr]);
    for (const v of d.templating.list) if (v.type === 'query') exprs.push([`variable ${v.name}`, String((v.query as { query: string }).query)]);
    let checked = 0;
    for (const [where, expr] of exprs) {
      const names = metricNames(expr).filter((n) => !(where.startsWith('variable') && n === 'cluster'));
      assert.ok(names.length > 0, `${where}: no metric in ${expr}`);
      for (const n of names) {
        assert.ok(defined.has(n), `${where}: ${n} is not a metric the coordinator exports (${expr})`);
        checked++;
      }
    }
    assert.ok(checked > 40);
  });

  it('alert rules, too, use only metrics the coordinator defines (and up)', async () => {
    const defined = await definedNames();
    defined.add('up');
    for (const m of STORE_METRICS) defined.add(m.name);
    const rules = parseYaml(readFileSync(join(ROOT, 'deploy/prometheus/lbha-alerts.yml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
    const all = rules.groups.flatMap((g) => g.rules);
    assert.equal(all.length, 26);
    for (const r of all) for (const n of metricNames(r.expr)) assert.ok(defined.has(n), `${r.alert}: ${n} is not exported`);
  });
});
