import type { LbhaEvent } from '@lbha/shared';

const OPERATIONS = new Set(['drain', 'undrain', 'restart', 'reload', 'rolling_restart', 'move', 'drill', 'backend_drain', 'backend_undrain', 'backend_disable', 'backend_enable', 'backend_weight']);
const OPERATION_OUTCOMES = new Set(['succeeded', 'failed', 'refused', 'cancelled', 'timed_out']);

/**
 * A finished operation in the event log: type `<operation>.<outcome>`, e.g. `drain.succeeded`,
 * `rolling_restart.failed`. Anything else is not an operation outcome.
 */
export function operationOutcome(e: LbhaEvent): { readonly operation: string; readonly state: string } | undefined {
  const dot = e.type.lastIndexOf('.');
  if (dot < 0) return undefined;
  const operation = e.type.slice(0, dot);
  const state = e.type.slice(dot + 1);
  return OPERATIONS.has(operation) && OPERATION_OUTCOMES.has(state) ? { operation, state } : undefined;
}
