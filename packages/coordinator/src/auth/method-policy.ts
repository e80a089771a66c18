// What each ControlService method needs: the role, whether it changes state (and so is
// audited), and which request fields are names (checked before the handler runs, so path or
// shell characters never reach it). A method missing here needs the operator role.
import type { ApiRole } from './roles.js';

export interface MethodPolicy {
  readonly role: ApiRole;
  /** Changes state: recorded in the event log with the caller's identity. */
  readonly mutating: boolean | ((request: Record<string, unknown>) => boolean);
  /** String fields that must be valid names when set. */
  readonly names?: readonly string[];
  /** String fields that must be set. */
  readonly required?: readonly string[];
}

const read = (names: readonly string[] = [], required: readonly string[] = []): MethodPolicy => ({ role: 'read-only', mutating: false, names, required });
const write = (names: readonly string[], required: readonly string[] = names): MethodPolicy => ({ role: 'operator', mutating: true, names, required });

/** Keyed by the method's name in the generated service definition (lowerCamelCase). */
export const CONTROL_METHOD_POLICY: Readonly<Record<string, MethodPolicy>> = {
  listNodes: read(['cluster']),
  getNode: read(['name'], ['name']),
  listVips: read(['cluster']),
  getPlacement: read(['cluster']),
  getOperation: read([], ['id']),
  listOperations: read(),
  listEvents: read(['cluster', 'node']),
  watchEvents: read(['cluster', 'node']),
  validateSpec: read(),
  getSpec: read(),
  // Changes nothing: a what-if question is for anyone who may read placement.
  simulate: read(),
  listBackends: read(['cluster']),
  listAudit: read(),
  drain: write(['node']),
  undrain: write(['node']),
  restartService: write(['node', 'service']),
  reloadService: write(['node', 'service']),
  rollingRestart: write(['cluster', 'service']),
  cancelOperation: write([], ['id']),
  // The server name follows haproxy's and nginx's rules, checked by the operation.
  changeBackendServer: write(['cluster'], ['cluster', 'server']),
  moveVip: write(['vip', 'cluster', 'node'], ['vip', 'node']),
  unpinVip: write(['vip', 'cluster'], ['vip']),
  drillCluster: write(['cluster', 'vip'], ['cluster']),
  // A dry run changes nothing, but it is an operator's tool like the real thing.
  applySpec: { role: 'operator', mutating: (req) => req['dryRun'] !== true },
};

export const UNKNOWN_METHOD_POLICY: MethodPolicy = { role: 'operator', mutating: true };

export function policyOf(method: string): MethodPolicy {
  return Object.hasOwn(CONTROL_METHOD_POLICY, method) ? (CONTROL_METHOD_POLICY[method] as MethodPolicy) : UNKNOWN_METHOD_POLICY;
}

/** Free-text fields are bounded so a caller cannot flood the event log. */
export const MAX_REASON_LENGTH = 1024;
