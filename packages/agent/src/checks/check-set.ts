// The checks a node runs: one CheckRunner per spec, replaced when its spec changes. The agent's
// own process check for the proxy is added when the desired state has none (node-check-specs.ts).
import type { CheckSpec, CheckStatus } from '@lbha/shared';
import type { AgentMetrics } from '../agent-metrics.js';
import { CheckRunner } from './check-runner.js';
import { createProbe, type ProbeContext } from './create-probe.js';

export interface CheckSetOptions {
  readonly probes: ProbeContext;
  readonly metrics: AgentMetrics;
  readonly now: () => number;
  /** A check's verdict changed (or its first verdict arrived). */
  readonly onChange: (status: CheckStatus) => void;
}

/** Names of the checks a sync started and stopped for good. */
export interface CheckSync {
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

export class CheckSet {
  private readonly runners = new Map<string, CheckRunner>();

  constructor(private readonly opts: CheckSetOptions) {}

  /** Runs exactly `specs` (defaults filled): new ones start, changed ones restart, others stop. */
  sync(specs: readonly CheckSpec[]): CheckSync {
    const wanted = new Map(specs.map((s) => [s.name, s]));
    const added: string[] = [];
    const removed: string[] = [];
    for (const [name, runner] of this.runners) {
      const w = wanted.get(name);
      if (w && JSON.stringify(w) === JSON.stringify(runner.spec)) continue;
      runner.stop();
      this.runners.delete(name);
      this.opts.metrics.removeCheck(name, runner.spec.params.kind);
      if (!w) removed.push(name);
    }
    for (const spec of specs) {
      if (this.runners.has(spec.name)) continue;
      const runner = new CheckRunner(spec, createProbe(spec, this.opts.probes), {
        onResult: (name, _r, ms) => this.opts.metrics.checkResult(name, ms),
        onChange: (status) => this.opts.onChange(status),
      }, this.opts.now);
      this.runners.set(spec.name, runner);
      added.push(spec.name);
      runner.start();
    }
    return { added, removed };
  }

  /** True once every check has its first verdict. */
  settled(): boolean {
    for (const c of this.runners.values()) if (!c.hasVerdict) return false;
    return true;
  }

  /** No probe in flight and no check confirming a change. */
  quiet(): boolean {
    for (const c of this.runners.values()) if (!c.quiet) return false;
    return true;
  }

  status(name: string): CheckStatus | undefined {
    return this.runners.get(name)?.status();
  }

  statuses(): CheckStatus[] {
    return [...this.runners.values()].map((c) => c.status());
  }

  /** The statuses of the checks that have a verdict. */
  verdicts(): CheckStatus[] {
    const out: CheckStatus[] = [];
    for (const c of this.runners.values()) if (c.hasVerdict) out.push(c.status());
    return out;
  }

  stop(): void {
    for (const c of this.runners.values()) c.stop();
  }
}
