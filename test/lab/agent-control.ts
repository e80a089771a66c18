// The lbha side of a lab run: a coordinator in the host namespace and an agent in each LB namespace.
import type { Lab } from './lab.js';
import { LabUsageError } from './errors.js';

export interface AgentControlFiles {
  readonly proxyKind: 'nginx' | 'haproxy';
}

export class AgentControl {
  constructor(
    private readonly lab: Lab,
    private readonly files: AgentControlFiles,
  ) {}

  async start(): Promise<void> {
    void this.lab;
    void this.files;
    throw new LabUsageError('agent control is not available yet');
  }

  async stop(): Promise<void> {}
}
