// The way out to the agents: desired states and commands onto a node's live session. The
// registry is the way in (what agents report); nothing sent here comes back through it.
import type { Command, DesiredState } from '@lbha/shared';
import type { AgentSession } from './registry.js';

export interface Pushed {
  readonly node: string;
  readonly version: number;
}

export class AgentOutbox {
  private readonly sent = new Map<string, number>();
  private readonly listeners = new Set<(p: Pushed) => void>();

  /** `sessionOf` finds a node's live session (the registry's). */
  constructor(private readonly sessionOf: (node: string) => AgentSession | undefined) {}

  /** Sends a desired state to its node's live session; false when the node has none. */
  sendDesiredState(desired: DesiredState): boolean {
    const session = this.sessionOf(desired.node);
    if (!session) return false;
    this.sent.set(desired.node, desired.version);
    session.sendDesiredState(desired);
    for (const l of this.listeners) l({ node: desired.node, version: desired.version });
    return true;
  }

  /** Sends a command to a node's live session; false when the node has none. */
  sendCommand(node: string, command: Command): boolean {
    const session = this.sessionOf(node);
    if (!session) return false;
    session.sendCommand(command);
    return true;
  }

  /** The last desired-state version sent to the node (0: none yet). */
  sentVersion(node: string): number {
    return this.sent.get(node) ?? 0;
  }

  /** Called after every desired state sent (push latency metrics). */
  onPushed(listener: (p: Pushed) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
