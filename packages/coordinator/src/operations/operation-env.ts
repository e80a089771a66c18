// What the procedures (drain, restart, ...) use of the rest of the coordinator: small ports, so
// a procedure reads as its steps.
import type { NodeMode } from '@lbha/shared';
import type { BackendPool } from '../backends/backend-pool.js';
import type { CommandDispatcher } from '../command-dispatcher.js';
import type { EventLog } from '../event-log.js';
import type { FleetView } from '../fleet-view.js';
import type { ReconcileLoop } from '../reconcile-loop.js';
import type { Registry } from '../registry.js';
import type { DrillRecord, PinRecord } from '../store/coordinator-state.js';
import type { VipProber } from '../probes/vip-prober.js';

/** Where operators put VIPs (lbha move): stored, and honoured by placement from the next pass. */
export interface PinPort {
  pinOf(cluster: string, vip: string): PinRecord | undefined;
  /** Stores (or with null removes) a pin and schedules a reconcile pass. */
  setPin(cluster: string, vip: string, pin: PinRecord | null): Promise<void>;
}

export interface OperationEnv {
  /** Placement, VIP status and desired states as of the latest reconcile passes. */
  readonly view: Pick<FleetView, 'currentSpec' | 'clusterOfNode' | 'vips' | 'vipsOf' | 'placement' | 'interlockInput' | 'desiredOf' | 'waitUntil'>;
  /** What each node's agent reports now. */
  readonly nodes: Pick<Registry, 'get'>;
  readonly commands: Pick<CommandDispatcher, 'issue' | 'wait'>;
  /** The handovers of a drain's VIP moves (kept open while its connections drain). */
  readonly handovers: Pick<ReconcileLoop, 'extendHandovers' | 'endHandovers'>;
  readonly pins: PinPort;
  readonly modeOf: (node: string) => NodeMode;
  readonly setMode: (node: string, mode: NodeMode, actor: string, reason: string, operationId: string) => Promise<void>;
  readonly clock: () => number;
  /** What is wanted of the backend servers, and what the agents report of them. */
  readonly backends: Pick<BackendPool, 'view' | 'set' | 'intentsOf' | 'reports'>;
  /** Events a procedure reports itself (a drill's figures). */
  readonly events: Pick<EventLog, 'record'>;
  /** How a drill measures what clients see, and how long a VIP stays on its standby. */
  readonly drill: DrillSettings;
  readonly drills: DrillRecordPort;
}

export interface DrillSettings {
  readonly prober: VipProber;
  readonly holdMs: number;
}

/** Where a finished drill's figures are kept for metrics (when one last passed survives pruning and restarts). */
export interface DrillRecordPort {
  finished(cluster: string, run: Omit<DrillRecord, 'lastPassedMs'>): Promise<void>;
}
