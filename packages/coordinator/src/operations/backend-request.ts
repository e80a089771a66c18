// A backend operation before it starts: the server named ("web1" in every pool that has it, or
// "webserver/web1"), the state or weight it asks for, and the minimum-healthy interlock. Bad
// input and refusals throw and change nothing.
import { serverKey, serverNameProblem, type BackendAdmin } from '@lbha/shared';
import { minHealthyOf, type BackendPoolView, type BackendServerView } from '../backends/backend-pool-view.js';
import { InvalidArgumentError, NotFoundError, PreconditionError } from '../errors.js';
import type { ClusterSpec } from '../spec/cluster-spec.js';
import type { BackendOperationKind } from '../store/coordinator-state.js';

/** What an operation asks of its servers: a state, a weight (null: the configured one), or both. */
export interface BackendChange {
  readonly admin?: BackendAdmin;
  readonly weight?: number | null;
}

export function changeOf(kind: BackendOperationKind, weight: number | null | undefined): BackendChange {
  switch (kind) {
    case 'backend_drain':
      return { admin: 'drain' };
    case 'backend_disable':
      return { admin: 'maint' };
    case 'backend_undrain':
    case 'backend_enable':
      return { admin: 'ready' };
    case 'backend_weight':
      return { weight: weight ?? null };
  }
}

/** What the operation waits for after the servers took the change: their sessions to end. */
export function waitsForSessions(kind: BackendOperationKind): boolean {
  return kind === 'backend_drain' || kind === 'backend_disable';
}

/** haproxy weights are 0..256; nginx has no weight 0. */
function weightProblem(cluster: ClusterSpec, weight: number | null | undefined): string | undefined {
  if (weight === undefined) return 'a weight (or reset) is required';
  if (weight === null) return undefined;
  const [min, max] = cluster.service === 'haproxy' ? [0, 256] : [1, 1000];
  if (!Number.isInteger(weight) || weight < min || weight > max) {
    return `must be a whole number from ${min} to ${max} for ${cluster.service}${cluster.service === 'nginx' ? ' (nginx has no weight 0: drain the server instead)' : ''}`;
  }
  return undefined;
}

/** The servers `arg` names: "SERVER" in every pool that has it, or "POOL/SERVER". */
export function resolveTargets(cluster: ClusterSpec, view: BackendPoolView, arg: string): BackendServerView[] {
  const slash = arg.indexOf('/');
  const pool = slash < 0 ? undefined : arg.slice(0, slash);
  const server = slash < 0 ? arg : arg.slice(slash + 1);
  for (const [field, value] of [['pool', pool], ['server', server]] as const) {
    const p = value === undefined ? undefined : serverNameProblem(value);
    if (p) throw new InvalidArgumentError(field, p);
  }
  const found = view.servers.filter((s) => s.server === server && (pool === undefined || s.pool === pool));
  if (found.length === 0) {
    const known = [...new Set(view.servers.map((s) => s.server))].slice(0, 10).join(', ');
    throw new NotFoundError(`no server ${arg} in the pools of cluster ${cluster.name}${known ? ` (servers: ${known})` : ': no LB node reports a pool and the spec lists none'}`);
  }
  const unmanaged = found.filter((s) => !s.managed);
  if (unmanaged.length > 0) {
    throw new PreconditionError(
      `${unmanaged.map((s) => serverKey(s.pool, s.server)).join(', ')} is not in a pool lbha renders: declare the upstream under backends.pools of cluster ${cluster.name} and include its managed file in the upstream block`,
    );
  }
  return found;
}

/**
 * Why the change would leave a pool with fewer healthy servers than its minimum (empty: it
 * would not). A server counts as healthy while it is wanted ready with weight and every LB node
 * that reports it runs it ready, weighted and not down.
 */
export function backendInterlockProblems(cluster: ClusterSpec, view: BackendPoolView, targets: readonly BackendServerView[], change: BackendChange): string[] {
  const removes = (change.admin !== undefined && change.admin !== 'ready') || change.weight === 0;
  if (!removes) return [];
  const out: string[] = [];
  for (const pool of new Set(targets.map((t) => t.pool))) {
    const min = minHealthyOf(cluster, pool);
    const servers = view.servers.filter((s) => s.pool === pool);
    const left = servers.filter((s) => s.healthy && !targets.some((t) => t.pool === pool && t.server === s.server));
    if (left.length >= min) continue;
    const others = servers
      .filter((s) => !targets.some((t) => t.pool === pool && t.server === s.server))
      .map((s) => `${s.server} ${s.healthy ? 'healthy' : `not healthy (wanted ${s.desiredAdmin}${s.disagreement ? `; ${s.disagreement}` : ''}${s.nodes.some((n) => n.health === 'down') ? '; down' : ''})`}`);
    out.push(`pool ${pool} would keep ${left.length} healthy server${left.length === 1 ? '' : 's'}, fewer than its minimum of ${min}${others.length > 0 ? ` (${others.join(', ')})` : ''}`);
  }
  return out;
}

/** Checks the weight argument of the operation. */
export function checkWeight(cluster: ClusterSpec, kind: BackendOperationKind, weight: number | null | undefined): void {
  if (kind !== 'backend_weight') {
    if (weight !== undefined) throw new InvalidArgumentError('weight', `only for a weight change, not ${kind.replace('_', ' ')}`);
    return;
  }
  const p = weightProblem(cluster, weight);
  if (p) throw new InvalidArgumentError('weight', p);
}
