// A ServiceDriver fake for unit tests of what sits on top of the port (the restart policy,
// the agent core). Scripted: whether the config validates, whether a start succeeds.
import type { ServiceKind, ServiceStats } from '@lbha/shared';
import { failed, ok, type ExitInfo, type ProcessInfo, type ServiceDriver, type ServiceOutcome, type ValidationResult } from '../../src/services/service-driver.js';

export class FakeDriver implements ServiceDriver {
  readonly supervisor = 'direct' as const;
  configValid = true;
  startWorks = true;
  running = false;
  adoptable = false;
  pid = 0;
  activeConnections: number | undefined = 0;
  readonly calls: string[] = [];
  private nextPid = 100;
  private readonly exitListeners = new Set<(i: ExitInfo) => void>();

  constructor(
    readonly name: string,
    readonly kind: ServiceKind = 'nginx',
  ) {}

  async validate(): Promise<ValidationResult> {
    this.calls.push('validate');
    return this.configValid ? { ok: true, output: 'syntax is ok' } : { ok: false, output: `${this.name}: [emerg] unknown directive "broken"` };
  }

  async adopt(): Promise<boolean> {
    this.calls.push('adopt');
    if (this.adoptable) {
      this.running = true;
      this.pid = this.nextPid++;
    }
    return this.adoptable;
  }

  async start(): Promise<ServiceOutcome> {
    this.calls.push('start');
    if (this.running) return ok('already running');
    if (!this.startWorks) return failed(`${this.name} exited during startup (exit code 1): bind() failed`);
    this.running = true;
    this.pid = this.nextPid++;
    return ok(`${this.name} started (pid ${this.pid})`);
  }

  async stop(): Promise<ServiceOutcome> {
    this.calls.push('stop');
    this.running = false;
    this.pid = 0;
    return ok('stopped');
  }

  async reload(): Promise<ServiceOutcome> {
    this.calls.push('reload');
    if (!this.configValid) return failed(`${this.name} config does not validate; not reloaded`);
    return ok('reloaded');
  }

  async restart(): Promise<ServiceOutcome> {
    this.calls.push('restart');
    if (!this.configValid) return failed(`${this.name} config does not validate; not restarted`);
    this.running = false;
    return this.start();
  }

  status(): ProcessInfo {
    return { running: this.running, pid: this.pid, sinceMs: this.running ? 1 : 0 };
  }

  async stats(): Promise<ServiceStats | undefined> {
    if (!this.running || this.activeConnections === undefined) return undefined;
    return { activeConnections: this.activeConnections, requestsTotal: 0, currentSessions: this.activeConnections, serverStates: {} };
  }

  onExit(listener: (i: ExitInfo) => void): () => void {
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  close(): void {
    this.exitListeners.clear();
  }

  /** Simulates a crash: the process is gone and nobody asked for it. */
  crash(signal = 'SIGKILL'): void {
    const pid = this.pid;
    this.running = false;
    this.pid = 0;
    for (const l of this.exitListeners) l({ pid, code: null, signal, logTail: '' });
  }
}
