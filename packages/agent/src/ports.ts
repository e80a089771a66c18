// The boundary between the stream client (talks to the coordinator) and the agent core
// (checks, services, keepalived). The stream client knows nothing of keepalived; the core
// knows nothing of gRPC. The binary drives the core through AgentCore and nothing else.
import type { Command, CommandResult, DesiredState, NodeDelta, NodeSnapshot } from '@lbha/shared';

/** What the stream client reads from the agent core. */
export interface AgentStateSource {
  /** The full current state, sent after every (re)connect. */
  snapshot(): NodeSnapshot;
  /** Subscribes to changes; returns an unsubscribe function. */
  onDelta(listener: (delta: NodeDelta) => void): () => void;
  /** Version of the desired state currently applied (0 if none). */
  appliedVersion(): number;
  /** Results of recently finished commands, replayed in Hello so none runs twice. */
  recentResults(): readonly CommandResult[];
}

export type DesiredStateOutcome = { readonly accepted: true } | { readonly accepted: false; readonly error: string };

/** What the stream client hands to the agent core. */
export interface CoordinatorHandler {
  /** Applies a desired state; resolves to ACK or NACK (with the reason). */
  applyDesiredState(desired: DesiredState): Promise<DesiredStateOutcome>;
  /**
   * Runs a command. Idempotent by command id: a repeated id reports the earlier result.
   * `report` may be called several times (accepted, running with progress, final state).
   */
  runCommand(command: Command, report: (result: CommandResult) => void): void;
}

/** The agent core as the binary drives it: what the stream client reads and hands over, a lifecycle, the link. */
export interface AgentCore extends AgentStateSource, CoordinatorHandler {
  /** Adopts or starts the daemons, applies the cached desired state, starts the checks. */
  start(): Promise<void>;
  /** Stops watching and deciding; the daemons keep running unless configured otherwise. */
  stop(): Promise<void>;
  /** Whether a coordinator is connected (it may move VIPs with a connection handover). */
  setCoordinatorLink(up: boolean): void;
}
