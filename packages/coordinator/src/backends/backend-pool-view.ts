// The backend pool of a cluster as one thing: every server of every pool, what each LB node's
// proxy runs of it, what is wanted of it, whether the nodes disagree, and how many healthy
// servers each pool has. Pure: spec, wanted states and reports in, the view out.
import { serverKey, type BackendAdmin, type BackendHealth, type BackendServer } from '@lbha/shared';
import type { ClusterSpec } from '../spec/cluster-spec.js';
import type { BackendIntentRecord, BackendIntents } from '../store/coordinator-state.js';
import type { NodeReport } from './node-reports.js';

/** One node's view of a server; `reported` false: its agent is away or does not report it. */
export interface ServerOnNode {
  readonly node: string;
  readonly live: boolean;
  readonly reported: boolean;
  readonly admin: BackendAdmin;
  readonly health: BackendHealth;
  readonly weight: number;
  readonly sessions: number;
  readonly check: string;
}

export interface BackendServerView {
  readonly cluster: string;
  readonly pool: string;
  readonly server: string;
  readonly address: string;
  readonly managed: boolean;
  readonly desiredAdmin: BackendAdmin;
  /** null: the configured weight. */
  readonly desiredWeight: number | null;
  readonly nodes: readonly ServerOnNode[];
  /** How the nodes disagree with each other or with what is wanted; '' when they agree. */
  readonly disagreement: string;
  /** Wanted ready with weight, and ready, weighted and not down on every node that reports it. */
  readonly healthy: boolean;
}

export interface PoolView {
  readonly cluster: string;
  readonly pool: string;
  readonly healthy: number;
  readonly minHealthy: number;
  readonly servers: readonly string[];
}

export interface BackendPoolView {
  readonly servers: readonly BackendServerView[];
  readonly pools: readonly PoolView[];
}

/** A server as the universe of the view knows it before the nodes are looked at. */
interface Known {
  pool: string;
  server: string;
  address: string;
  managed: boolean;
}

const READY_INTENT = { admin: 'ready', weight: null } as const;

function orderedKnown(cluster: ClusterSpec, intents: BackendIntents, reports: readonly NodeReport[]): Known[] {
  const known = new Map<string, Known>();
  const add = (k: Known) => {
    const key = serverKey(k.pool, k.server);
    const had = known.get(key);
    if (!had) known.set(key, k);
    else if (k.managed && !had.managed) known.set(key, { ...had, managed: true });
  };
  for (const p of cluster.backends.pools) for (const s of p.servers) add({ pool: p.name, server: s.name, address: s.address, managed: true });
  for (const r of reports) for (const s of r.live ? (r.report?.servers ?? []) : []) add({ pool: s.pool, server: s.server, address: s.address, managed: s.managed });
  for (const i of Object.values(intents)) add({ pool: i.pool, server: i.server, address: '', managed: true });
  return [...known.values()];
}

function onNode(r: NodeReport, s: BackendServer | undefined): ServerOnNode {
  return {
    node: r.node,
    live: r.live,
    reported: s !== undefined,
    admin: s?.admin ?? 'ready',
    health: s?.health ?? 'unknown',
    weight: s?.weight ?? 0,
    sessions: s?.sessions ?? 0,
    check: s?.check ?? '',
  };
}

/** "lb1 drain, lb2 ready" style: each distinct value with the nodes that have it. */
function spread<T>(nodes: readonly ServerOnNode[], value: (n: ServerOnNode) => T): string | undefined {
  const by = new Map<string, string[]>();
  for (const n of nodes) {
    const v = String(value(n));
    by.set(v, [...(by.get(v) ?? []), n.node]);
  }
  return by.size > 1 ? [...by].map(([v, ns]) => `${ns.join(', ')} ${v}`).join('; ') : undefined;
}

function disagreementOf(intent: Pick<BackendIntentRecord, 'admin' | 'weight'>, nodes: readonly ServerOnNode[], reporting: readonly NodeReport[]): string {
  const out: string[] = [];
  const seen = nodes.filter((n) => n.reported);
  const missing = reporting.filter((r) => r.report && !seen.some((n) => n.node === r.node)).map((r) => r.node);
  if (missing.length > 0 && seen.length > 0) out.push(`not run by ${missing.join(', ')}`);
  const admins = spread(seen, (n) => n.admin);
  if (admins) out.push(`state: ${admins}`);
  else if (seen.length > 0 && seen[0]?.admin !== intent.admin) out.push(`wanted ${intent.admin}, runs ${seen[0]?.admin}`);
  const weights = spread(seen, (n) => n.weight);
  if (weights) out.push(`weight: ${weights}`);
  else if (intent.weight !== null && seen.length > 0 && seen[0]?.weight !== intent.weight) out.push(`wanted weight ${intent.weight}, runs ${seen[0]?.weight}`);
  return out.join('; ');
}

export function backendPoolView(cluster: ClusterSpec, intents: BackendIntents, reports: readonly NodeReport[]): BackendPoolView {
  const reporting = reports.filter((r) => r.live && r.report !== undefined);
  const servers: BackendServerView[] = orderedKnown(cluster, intents, reports).map((k) => {
    const intent = intents[serverKey(k.pool, k.server)] ?? READY_INTENT;
    const found = reports.map((x) => (x.live ? x.report?.servers.find((s) => s.pool === k.pool && s.server === k.server) : undefined));
    const nodes = reports.map((x, i) => onNode(x, found[i]));
    const seen = nodes.filter((n) => n.reported);
    const address = k.address || (found.find((s) => s !== undefined)?.address ?? '');
    const wanted = intent.admin === 'ready' && intent.weight !== 0;
    const running = seen.every((n) => n.admin === 'ready' && n.weight > 0 && n.health !== 'down');
    return {
      cluster: cluster.name,
      pool: k.pool,
      server: k.server,
      address,
      managed: k.managed,
      desiredAdmin: intent.admin,
      desiredWeight: intent.weight,
      nodes,
      disagreement: disagreementOf(intent, nodes, reporting),
      healthy: wanted && running,
    };
  });
  const pools = new Map<string, BackendServerView[]>();
  for (const s of servers) pools.set(s.pool, [...(pools.get(s.pool) ?? []), s]);
  return {
    servers,
    pools: [...pools].map(([pool, list]) => ({
      cluster: cluster.name,
      pool,
      healthy: list.filter((s) => s.healthy).length,
      minHealthy: minHealthyOf(cluster, pool),
      servers: list.map((s) => s.server),
    })),
  };
}

/** The fewest healthy servers `pool` may be left with. */
export function minHealthyOf(cluster: ClusterSpec, pool: string): number {
  return cluster.backends.pools.find((p) => p.name === pool)?.minHealthy ?? cluster.backends.minHealthy;
}
