// Keeps one service up, wrapping its driver: a daemon that dies is restarted with backoff
// (what chk_nginx.sh did), and the proxy failure policy lives here:
//  - on death, validate the config at once;
//  - valid: restart in place; the service reads 'starting' (a restart in place moves no VIP)
//    and turns 'failed' only if it is not running again within the grace period;
//  - invalid: 'failed' at once, so its VIPs fail over without waiting;
//  - keep retrying with backoff (at once when its config file changes); 'running' again
//    when it is back, and the VIPs return per the failback policy.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger, ServiceState, ServiceStats, ServiceStatus } from '@lbha/shared';
import type { ServiceLiveness } from '../checks/process-probe.js';
import { Backoff, type BackoffOptions } from '../util/backoff.js';
import { describeExit } from './direct-supervisor.js';
import { kernelProcessTable, type ProcessTable } from './process-table.js';
import { StallWatch, type StallWatchOptions } from './stall-watch.js';
import { failed, type ExitInfo, type ServiceDriver, type ServiceOutcome, type ValidationResult } from './service-driver.js';

/** How often a restart looks whether the processes of a killed daemon are gone. */
const GONE_POLL_MS = 20;
/** Killed processes that are still there after this long are not waited for any more. */
const GONE_MAX_MS = 2_000;

export interface SupervisedServiceOptions {
  /** After a crash, how long a restart in place may take before the service counts as failed. */
  readonly graceMs: number;
  readonly backoff: BackoffOptions;
  /** Running this long resets the backoff. */
  readonly stableMs: number;
  /** A change to one of these files triggers an immediate retry while the service is down. */
  readonly watchFiles: readonly string[];
  readonly logger: Logger;
  readonly onRestart?: (service: string, outcome: 'ok' | 'failed') => void;
  /** Called when the agent kills a process of the daemon that runs but does not work. */
  readonly onKill?: (service: string, cause: KillCause) => void;
  /** Watch the running daemon for a hang from the kernel (proxies), sampling this often. */
  readonly stallIntervalMs?: number;
  /**
   * With the hang watch: a worker stopped while the main process runs is killed, and the main
   * process starts another (nginx's master does). The daemon is not restarted, no VIP moves.
   */
  readonly killStoppedWorkers?: boolean;
  /**
   * With the hang watch: a daemon hung this long (its VIPs gone to the peer since the hang was
   * found) is killed and restarted in place, unless a tracer holds one of its processes. Unset or
   * 0: a hung daemon is left as it is.
   */
  readonly hungRestartAfterMs?: number;
  /** The clock; Date.now by default. */
  readonly now?: () => number;
  /** Waits on the clock of `now`; a timer by default. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** The kernel's processes; replaceable in unit tests. */
  readonly processes?: ProcessTable;
  /** The hang watch's kernel readers; replaceable in unit tests. */
  readonly stallRead?: StallWatchOptions['read'];
}

/**
 * Why the agent killed a daemon's process: a worker stopped by a signal (its master starts another),
 * a proxy hung for supervision.hungRestartAfter, or a daemon found stuck otherwise (a frozen
 * keepalived); the last two are restarted in place.
 */
export type KillCause = 'worker_stopped' | 'hung' | 'stuck';

/** A new process of the daemon or a new configuration: what it was told at runtime may be gone. */
export type ServiceCycle = 'started' | 'reloaded' | 'restarted';

export class SupervisedService implements ServiceLiveness {
  private state: ServiceState = 'unknown';
  private lastError = '';
  private restarts = 0;
  private sinceMs: number;
  private cachedStats: ServiceStats | undefined;
  private readonly backoff: Backoff;
  private graceTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stableTimer: NodeJS.Timeout | undefined;
  /** Ends a hang that lasts hungRestartAfterMs. */
  private hungTimer: NodeJS.Timeout | undefined;
  private attempting = false;
  /** Why the agent killed the daemon, for the exit that follows. */
  private crashReason: string | undefined;
  /** The processes killStuck killed: a restart waits until they are gone. */
  private killedPids: number[] = [];
  /** Set while a command (restart/stop) drives the daemon: its exits are expected. */
  private operating = false;
  private closed = false;
  private readonly listeners = new Set<() => void>();
  private readonly cycleListeners = new Set<(c: ServiceCycle) => void>();
  private readonly unsubscribeExit: () => void;
  private readonly watchers: FSWatcher[] = [];
  private readonly stall: StallWatch | undefined;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly processes: ProcessTable;

  constructor(
    readonly driver: ServiceDriver,
    private readonly opts: SupervisedServiceOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.processes = opts.processes ?? kernelProcessTable;
    this.sinceMs = this.now();
    this.backoff = new Backoff(opts.backoff);
    this.unsubscribeExit = driver.onExit((info) => this.onExit(info));
    this.stall =
      opts.stallIntervalMs === undefined
        ? undefined
        : new StallWatch({
            intervalMs: opts.stallIntervalMs,
            pid: () => this.driver.status().pid,
            onChange: (reason) => {
              if (reason) this.opts.logger.error({ event: 'service.hung', service: this.name, reason }, `${this.name} is hung: ${reason}`);
              else this.opts.logger.info({ event: 'service.unhung', service: this.name }, `${this.name} takes connections again`);
              this.armHungRestart(reason);
              for (const l of this.listeners) l();
            },
            ...(opts.killStoppedWorkers ? { onStoppedWorker: (pid: number, reason: string) => this.killStoppedWorker(pid, reason) } : {}),
            ...(opts.stallRead ? { read: opts.stallRead } : {}),
          });
  }

  get name(): string {
    return this.driver.name;
  }

  /** Adopts a running daemon, or starts one when `start` is set. */
  async init(start: boolean): Promise<void> {
    this.watchConfigFiles();
    if (await this.driver.adopt()) {
      this.setState('running');
      this.armStable();
      return;
    }
    if (!start) {
      this.setState('stopped');
      return;
    }
    this.setState('starting');
    this.armGrace();
    await this.attempt(false);
  }

  liveness(): { state: ServiceState; lastError: string; hung?: string } {
    const hung = this.state === 'running' ? this.stall?.current : undefined;
    return { state: this.state, lastError: this.lastError, ...(hung ? { hung } : {}) };
  }

  /** Its hung-proxy watch, if it has one, is not confirming a hang. */
  get quiet(): boolean {
    return this.stall?.quiet ?? true;
  }

  onLiveness(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called after every start, reload and restart that succeeded. */
  onCycle(listener: (c: ServiceCycle) => void): () => void {
    this.cycleListeners.add(listener);
    return () => this.cycleListeners.delete(listener);
  }

  private cycled(c: ServiceCycle): void {
    for (const l of this.cycleListeners) l(c);
  }

  /** Starts the daemon now if it is down and waiting for its next attempt (its config was just fixed). */
  retryNow(): void {
    if (this.closed || this.attempting || (this.state !== 'failed' && this.state !== 'starting')) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    void this.attempt(true);
  }

  status(): ServiceStatus {
    const p = this.driver.status();
    return {
      name: this.driver.name,
      kind: this.driver.kind,
      state: this.state,
      pid: p.pid,
      restarts: this.restarts,
      lastError: this.lastError,
      stats: this.state === 'running' ? this.cachedStats : undefined,
      sinceMs: this.sinceMs,
      supervisor: this.driver.supervisor,
    };
  }

  /** Fetches fresh stats (and keeps them for status()). */
  async stats(): Promise<ServiceStats | undefined> {
    this.cachedStats = await this.driver.stats().catch(() => undefined);
    return this.cachedStats;
  }

  /** Starts the daemon if it is not running (e.g. keepalived once a desired state exists). */
  async ensureStarted(): Promise<void> {
    if (this.state === 'running' || this.state === 'starting' || this.state === 'failed') return;
    this.setState('starting');
    this.armGrace();
    await this.attempt(false);
  }

  /** The daemon's own config test (`nginx -t`, `haproxy -c`); changes nothing. */
  validate(): Promise<ValidationResult> {
    return this.driver.validate();
  }

  async reload(): Promise<ServiceOutcome> {
    const r = await this.driver.reload();
    if (!r.ok) this.opts.logger.warn({ event: 'service.reload_refused', service: this.name, reason: r.message }, r.message);
    else this.cycled('reloaded');
    return r;
  }

  /** Operator restart: validated first; a failed start falls back to the recovery loop. */
  async restart(): Promise<ServiceOutcome> {
    if (this.operating) return failed(`${this.name} is already being restarted`);
    this.operating = true;
    const before = this.state;
    let r: ServiceOutcome;
    try {
      // 'starting' while it restarts (and 'running' after, with a new pid, reported as a change).
      if (before === 'running') this.setState('starting');
      r = await this.driver.restart();
    } finally {
      this.operating = false;
    }
    if (!r.ok && this.driver.status().running) this.setState(before);
    if (r.ok) {
      this.restarts++;
      this.lastError = '';
      this.clearGrace();
      this.setState('running');
      this.armStable();
      this.opts.onRestart?.(this.name, 'ok');
      this.cycled('restarted');
    } else if (!this.driver.status().running) {
      this.lastError = r.message;
      this.setState('failed');
      this.scheduleRetry();
    }
    return r;
  }

  /**
   * Ends a daemon that runs but no longer works (stopped, hung): SIGKILL to its processes,
   * children first, so none of them acts on its parent's death. Its exit is then handled as a
   * crash (restarted with backoff; keepalived's death handled by the core), reported as `reason`.
   */
  killStuck(reason: string, cause: KillCause = 'stuck'): void {
    const pid = this.driver.status().pid;
    if (pid <= 0) return;
    this.opts.onKill?.(this.name, cause);
    this.crashReason = reason;
    this.opts.logger.error({ event: 'service.stuck', service: this.name, reason }, `${this.name}: ${reason}; killing it`);
    this.killedPids = this.processes.tree(pid).reverse();
    for (const p of this.killedPids) this.processes.kill(p);
  }

  /**
   * A hung daemon's VIPs have gone to the peer, but every connection it had accepted waits on it,
   * for as long as the hang lasts: a client without a timeout for ever. Killed, its connections
   * are reset (a client reconnects at once, to the peer), and the restart in place brings the node
   * back, where a hang that does not end by itself would keep it away until someone came. A hang
   * that ends within the delay keeps its connections, which are answered late.
   */
  private armHungRestart(reason: string | undefined): void {
    if (this.hungTimer) clearTimeout(this.hungTimer);
    this.hungTimer = undefined;
    const afterMs = this.opts.hungRestartAfterMs ?? 0;
    if (reason === undefined || afterMs <= 0) return;
    this.hungTimer = setTimeout(() => {
      this.hungTimer = undefined;
      const still = this.stall?.current;
      if (this.closed || this.operating || this.state !== 'running' || still === undefined) return;
      const pid = this.driver.status().pid;
      const traced = pid > 0 ? this.processes.tree(pid).filter((p) => this.processes.traced(p)) : [];
      if (traced.length > 0) {
        // Whoever attached a debugger holds the daemon, and its connections, on purpose.
        this.opts.logger.warn({ event: 'service.hung_traced', service: this.name, pids: traced }, `${this.name} is hung with process ${traced.join(', ')} held by a tracer; not killing it`);
        return;
      }
      this.killStuck(`hung for ${afterMs} ms (${still})`, 'hung');
    }, afterMs);
    this.hungTimer.unref();
  }

  /**
   * A worker that is stopped takes no new connection (the others do), but every connection it
   * accepted stalls for as long as it stays stopped: ended, it resets them and the master starts
   * a worker in its place, so its clients reconnect at once instead of waiting out their timeouts.
   */
  private killStoppedWorker(pid: number, reason: string): void {
    this.opts.logger.error({ event: 'service.worker_stopped', service: this.name, pid, reason }, `${this.name}: ${reason}; killing worker ${pid}, the master starts another`);
    this.opts.onKill?.(this.name, 'worker_stopped');
    this.processes.kill(pid);
  }

  /** Stops watching; the daemon keeps running (an agent restart must not move a VIP). */
  close(): void {
    this.closed = true;
    this.stall?.stop();
    if (this.hungTimer) clearTimeout(this.hungTimer);
    this.clearGrace();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.stableTimer) clearTimeout(this.stableTimer);
    for (const w of this.watchers) w.close();
    this.unsubscribeExit();
    this.driver.close();
  }

  /** Stops the daemon itself (used by tests and by an explicit shutdown). */
  async stopDaemon(): Promise<ServiceOutcome> {
    this.operating = true;
    try {
      const r = await this.driver.stop();
      this.setState('stopped');
      return r;
    } finally {
      this.operating = false;
    }
  }

  private onExit(info: ExitInfo): void {
    if (this.closed || this.operating) return;
    if (this.stableTimer) clearTimeout(this.stableTimer);
    this.lastError = this.crashReason ? `${this.crashReason}; killed and restarted` : `exited (${describeExit(info)})${info.logTail ? `: ${info.logTail}` : ''}`;
    this.crashReason = undefined;
    this.setState('starting');
    this.armGrace();
    const killed = this.killedPids;
    this.killedPids = [];
    // The parent's exit can come before its killed children are gone; keepalived started then
    // finds their pid files alive and exits with "daemon is already running".
    void this.whenGone(killed).then(() => this.attempt(true));
  }

  /** Resolves when none of `pids` exists any more, or once they have had GONE_MAX_MS to go. */
  private async whenGone(pids: readonly number[]): Promise<void> {
    const deadline = this.now() + GONE_MAX_MS;
    while (!this.closed && pids.some((p) => this.processes.exists(p)) && this.now() < deadline) await this.sleep(GONE_POLL_MS);
  }

  private async attempt(isRestart: boolean): Promise<void> {
    if (this.attempting || this.closed) return;
    this.attempting = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    try {
      const v = await this.driver.validate();
      if (this.closed) return;
      if (!v.ok) {
        // No point waiting out the grace: this daemon will not start. Fail over now.
        this.lastError = `config does not validate: ${v.output}`;
        this.clearGrace();
        this.setState('failed');
        this.opts.logger.error({ event: 'service.config_invalid', service: this.name, output: v.output }, `${this.name} config does not validate`);
        if (isRestart) this.opts.onRestart?.(this.name, 'failed');
        this.scheduleRetry();
        return;
      }
      const r = await this.driver.start();
      if (this.closed) return;
      // An exit during the attempt is not a second crash to handle: it is this attempt failing.
      if (r.ok && this.driver.status().running) {
        if (isRestart) {
          this.restarts++;
          this.opts.onRestart?.(this.name, 'ok');
          this.opts.logger.info({ event: 'service.restarted', service: this.name, restarts: this.restarts, reason: this.lastError }, `${this.name} restarted`);
        }
        // After a crash, the error stays: it says why the service was restarted.
        if (!isRestart) this.lastError = '';
        this.clearGrace();
        this.setState('running');
        this.armStable();
        this.cycled(isRestart ? 'restarted' : 'started');
        return;
      }
      this.lastError = r.ok ? `${this.name} exited right after starting` : r.message;
      if (isRestart) this.opts.onRestart?.(this.name, 'failed');
      this.opts.logger.error({ event: 'service.start_failed', service: this.name, reason: r.message }, r.message);
      if (!this.graceTimer) this.setState('failed');
      this.scheduleRetry();
    } finally {
      this.attempting = false;
    }
  }

  private scheduleRetry(): void {
    if (this.closed) return;
    const delay = this.backoff.next();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.attempt(true);
    }, delay);
    this.retryTimer.unref();
  }

  private armGrace(): void {
    this.clearGrace();
    this.graceTimer = setTimeout(() => {
      this.graceTimer = undefined;
      if (this.state !== 'running') this.setState('failed');
    }, this.opts.graceMs);
    this.graceTimer.unref();
  }

  private clearGrace(): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
  }

  private armStable(): void {
    if (this.stableTimer) clearTimeout(this.stableTimer);
    this.stableTimer = setTimeout(() => this.backoff.reset(), this.opts.stableMs);
    this.stableTimer.unref();
  }

  private watchConfigFiles(): void {
    for (const file of this.opts.watchFiles) {
      try {
        const name = basename(file);
        const w = watch(dirname(file), { persistent: false }, (_e, f) => {
          if (f !== null && f !== name) return;
          // A fixed config should not wait for the next backoff step.
          if (this.retryTimer) this.retryNow();
        });
        w.on('error', () => w.close());
        this.watchers.push(w);
      } catch {
        // Directory missing: the backoff retries still find the fix.
      }
    }
  }

  private setState(s: ServiceState): void {
    if (this.state === s) return;
    this.state = s;
    if (s === 'running') this.stall?.start();
    else this.stall?.stop();
    this.sinceMs = this.now();
    for (const l of this.listeners) l();
  }
}
