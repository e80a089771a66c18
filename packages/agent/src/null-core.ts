// An agent core that manages nothing: reports an empty, healthy node and refuses commands.
// Used before any keepalived/service configuration exists, and by stream tests.
import type { Command, CommandResult, DesiredState, NodeDelta, NodeSnapshot } from '@lbha/shared';
import type { AgentCore, DesiredStateOutcome } from './ports.js';

export class NullCore implements AgentCore {
  private applied = 0;
  private readonly listeners = new Set<(d: NodeDelta) => void>();

  async start(): Promise<void> {}

  async stop(): Promise<void> {}

  setCoordinatorLink(): void {}

  snapshot(): NodeSnapshot {
    return { services: [], checks: [], instances: [], healthy: true, appliedVersion: this.applied, localMode: 'active' };
  }

  onDelta(listener: (d: NodeDelta) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  appliedVersion(): number {
    return this.applied;
  }

  recentResults(): readonly CommandResult[] {
    return [];
  }

  async applyDesiredState(desired: DesiredState): Promise<DesiredStateOutcome> {
    if (desired.instances.length > 0) return { accepted: false, error: 'this agent has no keepalived configuration' };
    this.applied = desired.version;
    for (const l of this.listeners) l({ services: [], checks: [], instances: [], removedChecks: [], removedInstances: [], appliedVersion: this.applied });
    return { accepted: true };
  }

  runCommand(command: Command, report: (r: CommandResult) => void): void {
    report({ commandId: command.id, state: 'rejected', message: `${command.action.kind} is not supported by this agent`, activeConnections: 0, finishedMs: Date.now() });
  }
}
