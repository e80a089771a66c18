// What each kind of operation is given and called: its default timeout, how many times that
// timeout its whole run may take, its id and its title in events and messages.
import { randomBytes } from 'node:crypto';
import { isBackendKind, type OperationKind, type OperationRecord } from '../store/coordinator-state.js';

/** Defaults when a request gives no timeout (per node for a rolling restart, per VIP for a drill). */
export const DEFAULT_TIMEOUT_MS: Readonly<Record<OperationKind, number>> = {
  drain: 60_000,
  undrain: 30_000,
  restart: 120_000,
  reload: 60_000,
  rolling_restart: 120_000,
  backend_drain: 60_000,
  backend_undrain: 30_000,
  backend_disable: 60_000,
  backend_enable: 30_000,
  backend_weight: 30_000,
  move: 30_000,
  drill: 90_000,
};

export function opId(kind: OperationKind, now: number): string {
  return `${kind.replace('_', '-')}-${now.toString(36)}-${randomBytes(3).toString('hex')}`;
}

export function title(r: Pick<OperationRecord, 'kind' | 'service' | 'node' | 'cluster' | 'data'>): string {
  if (isBackendKind(r.kind)) return `${r.kind.replace('_', ' ')} of ${r.data['server']} in cluster ${r.cluster}`;
  if (r.kind === 'move') return `move of ${r.data['vip'] ?? 'a VIP'} to ${r.node}${r.data['pin'] === 'true' ? ' (pinned)' : ''}`;
  if (r.kind === 'drill') return `drill of cluster ${r.cluster}`;
  return `${r.kind.replace('_', ' ')} of ${r.service ? `${r.service} on ` : ''}${r.node || `cluster ${r.cluster}`}`;
}

/**
 * How many times its timeout a whole operation may take: once per node for a rolling restart
 * (`nodes` in its data, or the cluster's count), once per VIP for a drill, once otherwise.
 */
export function timeoutUnits(r: Pick<OperationRecord, 'kind' | 'data'>, clusterNodes: number): number {
  if (r.kind === 'rolling_restart') return Math.max(1, Number(r.data['nodes'] ?? clusterNodes));
  if (r.kind === 'drill') return Math.max(1, (r.data['plan'] ?? '').split(',').filter((x) => x !== '').length);
  return 1;
}
