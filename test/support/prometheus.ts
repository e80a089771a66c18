// A real Prometheus (the Debian package's /usr/bin/prometheus) for tests: started on 127.0.0.1
// with a generated config, queried over its HTTP API. Also reads the queries of lbha's Grafana
// dashboard and the expressions of its alert rules, so tests can run each one against it.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { freePort } from '@lbha/test-support';
import { ROOT } from './paths.js';

export const DASHBOARD_FILE = join(ROOT, 'deploy/grafana/lbha-dashboard.json');
export const ALERTS_FILE = join(ROOT, 'deploy/prometheus/lbha-alerts.yml');

/** The prometheus binary, or undefined when it is not installed. */
export function prometheusBinary(): string | undefined {
  for (const dir of ['/usr/bin', ...(process.env['PATH'] ?? '').split(delimiter)]) {
    const p = join(dir, 'prometheus');
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface ScrapeJob {
  readonly job: string;
  readonly targets: ReadonlyArray<{ readonly address: string; readonly labels?: Readonly<Record<string, string>> }>;
  readonly scheme?: 'http' | 'https';
  /** CA of the targets' certificates (https). */
  readonly caFile?: string;
}

export interface PrometheusOptions {
  /** Config, data and log go here. */
  readonly dir: string;
  readonly jobs: readonly ScrapeJob[];
  readonly ruleFiles?: readonly string[];
  /** Scrape and rule evaluation interval; default 1 s. */
  readonly intervalSeconds?: number;
}

export interface Sample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: number;
}

export type QueryResult = { readonly ok: true; readonly samples: readonly Sample[] } | { readonly ok: false; readonly error: string };

export interface ActiveAlert {
  readonly labels: Readonly<Record<string, string>>;
  readonly state: 'pending' | 'firing' | 'inactive';
  /** When the rule's expression first held (RFC 3339), as Prometheus reports it. */
  readonly activeAt?: string;
}

function renderConfig(o: PrometheusOptions): string {
  const interval = `${o.intervalSeconds ?? 1}s`;
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval, scrape_timeout: interval },
    rule_files: [...(o.ruleFiles ?? [])],
    scrape_configs: o.jobs.map((j) => ({
      job_name: j.job,
      scheme: j.scheme ?? 'http',
      ...(j.caFile ? { tls_config: { ca_file: j.caFile } } : {}),
      static_configs: j.targets.map((t) => ({ targets: [t.address], labels: { ...(t.labels ?? {}) } })),
    })),
  };
  // JSON is YAML, and needs no quoting rules.
  return JSON.stringify(config, null, 2);
}

export class PrometheusServer {
  private readonly logs: string[] = [];
  private exited = false;

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {
    const keep = (d: Buffer) => {
      this.logs.push(...d.toString().split('\n').filter((l) => l !== ''));
      if (this.logs.length > 200) this.logs.splice(0, this.logs.length - 200);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('exit', () => (this.exited = true));
  }

  static async start(o: PrometheusOptions): Promise<PrometheusServer> {
    const bin = prometheusBinary();
    if (!bin) throw new Error('prometheus is not installed');
    mkdirSync(join(o.dir, 'data'), { recursive: true });
    const configFile = join(o.dir, 'prometheus.yml');
    writeFileSync(configFile, renderConfig(o));
    const port = await freePort();
    const child = spawn(
      bin,
      [`--config.file=${configFile}`, `--storage.tsdb.path=${join(o.dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const server = new PrometheusServer(child, `http://127.0.0.1:${port}`);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (server.exited) throw new Error(`prometheus exited at start:\n${server.logs.join('\n')}`);
      try {
        const res = await fetch(`${server.url}/-/ready`);
        if (res.ok) return server;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await server.stop();
        throw new Error(`prometheus not ready after 30 s:\n${server.logs.join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** An instant query; `ok: false` carries Prometheus' error (e.g. a parse error). */
  async query(expr: string): Promise<QueryResult> {
    const res = await fetch(`${this.url}/api/v1/query`, { method: 'POST', body: new URLSearchParams({ query: expr }) });
    const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
    if (body.status !== 'success' || !body.data) return { ok: false, error: body.error ?? `HTTP ${res.status}` };
    const { resultType, result } = body.data;
    if (resultType === 'scalar') return { ok: true, samples: [{ metric: {}, value: Number((result as [number, string])[1]) }] };
    if (resultType !== 'vector') return { ok: false, error: `unexpected result type ${resultType}` };
    const samples = (result as Array<{ metric: Record<string, string>; value: [number, string] }>).map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    return { ok: true, samples };
  }

  /** A range query: how many series had data between `startMs` and `endMs`, or the error. */
  async queryRange(expr: string, startMs: number, endMs: number, stepSeconds = 2): Promise<{ readonly ok: true; readonly series: number } | { readonly ok: false; readonly error: string }> {
    const params = new URLSearchParams({ query: expr, start: String(startMs / 1000), end: String(endMs / 1000), step: String(stepSeconds) });
    const res = await fetch(`${this.url}/api/v1/query_range`, { method: 'POST', body: params });
    const body = (await res.json()) as { status: string; error?: string; data?: { result: unknown[] } };
    if (body.status !== 'success' || !body.data) return { ok: false, error: body.error ?? `HTTP ${res.status}` };
    return { ok: true, series: body.data.result.length };
  }

  /** Samples of an instant query; throws on a query error. */
  async samples(expr: string): Promise<readonly Sample[]> {
    const r = await this.query(expr);
    if (!r.ok) throw new Error(`${expr}: ${r.error}`);
    return r.samples;
  }

  async alerts(): Promise<ActiveAlert[]> {
    const res = await fetch(`${this.url}/api/v1/alerts`);
    const body = (await res.json()) as { data: { alerts: ActiveAlert[] } };
    return body.data.alerts;
  }

  async targets(): Promise<Array<{ job: string; address: string; health: string; lastError: string }>> {
    const res = await fetch(`${this.url}/api/v1/targets`);
    const body = (await res.json()) as { data: { activeTargets: Array<{ labels: Record<string, string>; scrapeUrl: string; health: string; lastError: string }> } };
    return body.data.activeTargets.map((t) => ({ job: t.labels['job'] ?? '', address: t.labels['instance'] ?? t.scrapeUrl, health: t.health, lastError: t.lastError }));
  }

  /** The last log lines, for failure messages. */
  tail(): string {
    return this.logs.slice(-20).join('\n');
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  }
}

// ------------------------------------------------------------------ dashboard and rules

export interface NamedQuery {
  readonly where: string;
  readonly expr: string;
}

/**
 * Every PromQL expression of the dashboard (panel targets and annotations), with Grafana's
 * variables replaced the way Grafana would for "All" clusters and the given windows.
 */
export function dashboardQueries(vars: { readonly rateInterval: string; readonly range: string; readonly cluster?: string } = { rateInterval: '15s', range: '10m' }): NamedQuery[] {
  interface Panel {
    title: string;
    type: string;
    targets?: Array<{ refId: string; expr: string }>;
    panels?: Panel[];
  }
  const d = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as { panels: Panel[]; annotations: { list: Array<{ name: string; expr?: string }> } };
  const sub = (expr: string) =>
    expr
      .replaceAll('$__rate_interval', vars.rateInterval)
      .replaceAll('$__range', vars.range)
      .replaceAll('$cluster', vars.cluster ?? '.*');
  const out: NamedQuery[] = [];
  for (const p of d.panels.flatMap((x) => [x, ...(x.panels ?? [])])) {
    for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: sub(t.expr) });
  }
  for (const a of d.annotations.list) if (a.expr) out.push({ where: `annotation "${a.name}"`, expr: sub(a.expr) });
  return out;
}

/** Every alert rule: name and expression. */
export function alertRules(): Array<{ readonly alert: string; readonly expr: string }> {
  const doc = parseYaml(readFileSync(ALERTS_FILE, 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
  return doc.groups.flatMap((g) => g.rules.map((r) => ({ alert: r.alert, expr: r.expr })));
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/** Metric names a PromQL expression selects (not functions, keywords, labels or ranges). */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const out = new Set<string>();
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = stripped.slice((m.index ?? 0) + m[0].length);
    if (/^\s*\(/.test(after) || KEYWORDS.has(m[0].toLowerCase())) continue;
    out.add(m[0]);
  }
  return [...out];
}
