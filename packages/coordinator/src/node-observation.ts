// What the coordinator sees of one node when a pass runs: its agent's link and last report.
// Built by the reconcile loop from the registry, so the decisions never touch the registry.
import type { NodeLink, NodeSnapshot } from '@lbha/shared';

export interface NodeObservation {
  readonly link: NodeLink;
  /** The agent's last full state (undefined until its first snapshot). */
  readonly snapshot: NodeSnapshot | undefined;
  /** The cluster the agent says it belongs to. */
  readonly cluster: string;
  /** What the agent said it can do (Hello). */
  readonly capabilities: readonly string[];
  /** Desired-state version the agent runs. */
  readonly appliedVersion: number;
  /** The agent's current stream; undefined when disconnected. */
  readonly session: string | undefined;
  /**
   * The longest of the agent's recent round trips from a desired state's push to its
   * acknowledgement (ack-latency.ts); undefined before the first. Budgets that wait on the
   * agent follow it.
   */
  readonly ackLatencyMs?: number;
}
