// Drives a daemon through systemctl (production hosts). systemd owns the process; the agent
// asks systemctl for the state and watches the main pid in /proc between those questions,
// so a crash is seen within `pollMs`, not at the next systemctl round trip.
import type { Logger, ServiceKind, ServiceStats } from '@lbha/shared';
import { describeOutcome, type CommandRunner } from '../util/run-command.js';
import { ticks } from '../util/tick-scheduler.js';
import { validateDaemonConfig, type DaemonSpec } from './daemon-spec.js';
import { isAlive } from './proc.js';
import { failed, ok, type ExitInfo, type ProcessInfo, type ServiceDriver, type ServiceOutcome, type ValidationResult } from './service-driver.js';

export interface SystemdSupervisorOptions {
  readonly name: string;
  readonly spec: DaemonSpec;
  /** e.g. "nginx.service". */
  readonly unit: string;
  readonly systemctl: string;
  /** /proc check of the main pid. */
  readonly pollMs: number;
  /** systemctl show, to pick up restarts systemd did on its own. */
  readonly refreshMs: number;
  readonly run: CommandRunner;
  readonly stats: () => Promise<ServiceStats | undefined>;
  readonly logger: Logger;
}

export interface UnitState {
  readonly activeState: string;
  readonly subState: string;
  readonly mainPid: number;
}

/** Parses `systemctl show -p ActiveState -p SubState -p MainPID UNIT`. */
export function parseShow(text: string): UnitState {
  const props = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) props.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return {
    activeState: props.get('ActiveState') ?? 'unknown',
    subState: props.get('SubState') ?? 'unknown',
    mainPid: Number(props.get('MainPID') ?? 0) || 0,
  };
}

export class SystemdSupervisor implements ServiceDriver {
  readonly supervisor = 'systemd' as const;
  private unitState: UnitState = { activeState: 'unknown', subState: 'unknown', mainPid: 0 };
  private sinceMs = 0;
  private cancelPoll: (() => void) | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly exitListeners = new Set<(i: ExitInfo) => void>();
  private busy = 0;

  constructor(private readonly opts: SystemdSupervisorOptions) {}

  get name(): string {
    return this.opts.name;
  }

  get kind(): ServiceKind {
    return this.opts.spec.kind;
  }

  validate(): Promise<ValidationResult> {
    return validateDaemonConfig(this.opts.run, this.opts.spec);
  }

  async adopt(): Promise<boolean> {
    await this.refresh();
    this.watch();
    return this.isActive();
  }

  start(): Promise<ServiceOutcome> {
    return this.systemctl('start', `${this.name} started`);
  }

  stop(): Promise<ServiceOutcome> {
    return this.systemctl('stop', `${this.name} stopped`);
  }

  async reload(): Promise<ServiceOutcome> {
    const v = await this.validate();
    if (!v.ok) return failed(`${this.name} config does not validate; not reloaded: ${v.output}`);
    return this.systemctl('reload', `${this.name} reloaded`);
  }

  async restart(): Promise<ServiceOutcome> {
    const v = await this.validate();
    if (!v.ok) return failed(`${this.name} config does not validate; not restarted: ${v.output}`);
    return this.systemctl('restart', `${this.name} restarted`);
  }

  status(): ProcessInfo {
    const running = this.isActive();
    return { running, pid: running ? this.unitState.mainPid : 0, sinceMs: running ? this.sinceMs : 0 };
  }

  stats(): Promise<ServiceStats | undefined> {
    return this.isActive() ? this.opts.stats() : Promise.resolve(undefined);
  }

  onExit(listener: (i: ExitInfo) => void): () => void {
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  close(): void {
    this.cancelPoll?.();
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.cancelPoll = undefined;
    this.refreshTimer = undefined;
    this.exitListeners.clear();
  }

  private isActive(): boolean {
    const s = this.unitState;
    return (s.activeState === 'active' || s.activeState === 'reloading') && (s.mainPid === 0 || isAlive(s.mainPid));
  }

  private async systemctl(verb: string, success: string): Promise<ServiceOutcome> {
    this.busy++;
    try {
      const r = await this.opts.run(this.opts.systemctl, [verb, this.opts.unit], { timeoutMs: 90_000 });
      await this.refresh();
      this.watch();
      if (r.exitCode !== 0) return failed(`systemctl ${verb} ${this.opts.unit} failed: ${describeOutcome(r)}`);
      return ok(success);
    } finally {
      this.busy--;
    }
  }

  private async refresh(): Promise<void> {
    const r = await this.opts.run(this.opts.systemctl, ['show', '-p', 'ActiveState', '-p', 'SubState', '-p', 'MainPID', this.opts.unit], { timeoutMs: 10_000 });
    if (r.exitCode !== 0) return;
    const next = parseShow(r.stdout);
    if (next.mainPid !== this.unitState.mainPid || next.activeState !== this.unitState.activeState) this.sinceMs = Date.now();
    this.unitState = next;
  }

  private watch(): void {
    // On the agent's tick grid (util/tick-scheduler.ts).
    this.cancelPoll ??= ticks.every(this.opts.pollMs, () => this.checkPid());
    if (!this.refreshTimer) {
      this.refreshTimer = setInterval(() => {
        const wasActive = this.isActive();
        const pid = this.unitState.mainPid;
        void this.refresh().then(() => {
          if (wasActive && !this.isActive() && this.busy === 0) this.emitExit(pid);
        });
      }, this.opts.refreshMs);
      this.refreshTimer.unref();
    }
  }

  private checkPid(): void {
    const s = this.unitState;
    if (this.busy > 0 || s.mainPid === 0 || s.activeState !== 'active') return;
    if (!isAlive(s.mainPid)) {
      const pid = s.mainPid;
      this.unitState = { ...s, activeState: 'inactive', mainPid: 0 };
      this.emitExit(pid);
    }
  }

  private emitExit(pid: number): void {
    this.opts.logger.warn({ event: 'service.exited', service: this.name, pid }, `${this.name} (${this.opts.unit}) is no longer running`);
    for (const l of this.exitListeners) l({ pid, code: null, signal: null, logTail: '' });
  }
}
