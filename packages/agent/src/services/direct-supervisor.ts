// Runs a daemon as a detached child in the foreground and watches it. Detached (own session,
// output to a log file, no pipes) so that a SIGKILLed agent leaves the daemon running; the
// agent records pid and start time in its own pid file and adopts the daemon when it returns.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, unlinkSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import type { Logger, ServiceKind, ServiceStats } from '@lbha/shared';
import { ServiceError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { CommandRunner } from '../util/run-command.js';
import { ticks } from '../util/tick-scheduler.js';
import { validateDaemonConfig, type DaemonSpec } from './daemon-spec.js';
import { processGroup, readListenQueues, socketInodes } from './listen-queue.js';
import { isAlive, readProcStat } from './proc.js';
import { failed, ok, type ExitInfo, type ProcessInfo, type ServiceDriver, type ServiceOutcome, type ValidationResult } from './service-driver.js';

export interface DirectSupervisorOptions {
  readonly name: string;
  readonly spec: DaemonSpec;
  /** The agent's record of the running daemon: {"pid":..,"startTime":..}. */
  readonly pidFile: string;
  /** stdout and stderr of the daemon (appended). */
  readonly logFile: string;
  /** A start counts as failed if the daemon exits within this window. */
  readonly startupMs: number;
  readonly stopTimeoutMs: number;
  /** How often an adopted daemon (not our child) is checked in /proc. */
  readonly pollMs: number;
  readonly run: CommandRunner;
  readonly stats: () => Promise<ServiceStats | undefined>;
  readonly logger: Logger;
}

interface PidRecord {
  readonly pid: number;
  readonly startTime: string;
}

export class DirectSupervisor implements ServiceDriver {
  readonly supervisor = 'direct' as const;
  private pid = 0;
  private startTime = '';
  private sinceMs = 0;
  /**
   * Cancels the poll of an adopted daemon. Set exactly while the current pid is an adopted
   * daemon's: waitExit relies on it to know whether an exit will be reported without a look.
   */
  private pollTimer: (() => void) | undefined;
  private readonly exitListeners = new Set<(i: ExitInfo) => void>();
  /** Exit waiters for the current process (stop, startup window). */
  private exitWaiters: Array<(i: ExitInfo) => void> = [];
  private expectingExit = false;
  /** The process group of a daemon that died while its processes finish what they serve. */
  private orphans: number | undefined;
  private logOffset = 0;

  constructor(private readonly opts: DirectSupervisorOptions) {}

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
    let rec: PidRecord;
    try {
      rec = JSON.parse(await readFile(this.opts.pidFile, 'utf8')) as PidRecord;
    } catch {
      return false;
    }
    if (!isAlive(rec.pid, rec.startTime)) return false;
    this.pid = rec.pid;
    this.startTime = rec.startTime;
    this.sinceMs = Date.now();
    this.logOffset = await this.logSize();
    this.pollAdopted();
    this.opts.logger.info({ event: 'service.adopted', service: this.name, pid: rec.pid }, `adopted running ${this.name}`);
    return true;
  }

  async start(): Promise<ServiceOutcome> {
    if (this.isRunning()) return ok(`${this.name} is already running (pid ${this.pid})`);
    this.stopPoll();
    this.removeStalePidFiles();
    await this.releaseOrphans();
    this.logOffset = await this.logSize();
    let fd: number;
    try {
      fd = openSync(this.opts.logFile, 'a', 0o640);
    } catch (err) {
      return failed(`cannot open log file ${this.opts.logFile}: ${(err as Error).message}`);
    }
    const spawned = await new Promise<{ pid: number } | { error: string }>((resolve) => {
      const child = spawn(this.opts.spec.binary, [...this.opts.spec.foregroundArgs], {
        detached: true,
        stdio: ['ignore', fd, fd],
      });
      child.once('error', (err) => resolve({ error: err.message }));
      child.once('spawn', () => {
        const pid = child.pid as number;
        child.once('exit', (code, signal) => this.onChildExit(pid, code, signal));
        child.unref();
        resolve({ pid });
      });
    });
    closeSync(fd);
    if ('error' in spawned) return failed(`cannot start ${this.name}: ${spawned.error}`);
    this.pid = spawned.pid;
    this.startTime = readProcStat(spawned.pid)?.startTime ?? '';
    this.sinceMs = Date.now();
    await writeFileAtomic(this.opts.pidFile, `${JSON.stringify({ pid: this.pid, startTime: this.startTime })}\n`).catch((err: Error) =>
      this.opts.logger.warn({ event: 'service.pidfile_failed', service: this.name, err: err.message }, 'cannot write pid file'),
    );
    // Startup errors (bind failures, bad certificates) make the daemon exit within moments.
    const early = await this.waitExit(this.opts.startupMs);
    if (early) {
      return failed(`${this.name} exited during startup (${describeExit(early)})${early.logTail ? `: ${early.logTail}` : ''}`);
    }
    if (!this.isRunning()) return failed(`${this.name} exited during startup; see ${this.opts.logFile}`);
    this.opts.logger.info({ event: 'service.started', service: this.name, pid: this.pid }, `${this.name} started`);
    return ok(`${this.name} started (pid ${this.pid})`);
  }

  async stop(): Promise<ServiceOutcome> {
    if (!this.isRunning()) {
      this.clear();
      return ok(`${this.name} was not running`);
    }
    const pid = this.pid;
    this.expectingExit = true;
    try {
      this.signal(this.opts.spec.stopSignal);
      let exit = await this.waitExit(this.opts.stopTimeoutMs);
      if (!exit) {
        this.opts.logger.warn({ event: 'service.stop_timeout', service: this.name, pid }, `${this.name} did not stop in time; killing`);
        this.signal('SIGKILL');
        exit = await this.waitExit(5_000);
      }
      if (!exit) return failed(`${this.name} (pid ${pid}) did not exit after SIGKILL`);
      return ok(`${this.name} stopped (pid ${pid})`);
    } finally {
      this.expectingExit = false;
    }
  }

  async reload(): Promise<ServiceOutcome> {
    const v = await this.validate();
    if (!v.ok) return failed(`${this.name} config does not validate; not reloaded: ${v.output}`);
    if (!this.isRunning()) return failed(`${this.name} is not running; nothing to reload`);
    this.signal(this.opts.spec.reloadSignal);
    this.opts.logger.info({ event: 'service.reloaded', service: this.name, pid: this.pid }, `${this.name} reloaded`);
    return ok(`${this.name} reloaded (${this.opts.spec.reloadSignal} to pid ${this.pid})`);
  }

  async restart(): Promise<ServiceOutcome> {
    const v = await this.validate();
    if (!v.ok) return failed(`${this.name} config does not validate; not restarted: ${v.output}`);
    const s = await this.stop();
    if (!s.ok) return s;
    const r = await this.start();
    return r.ok ? ok(`${this.name} restarted (pid ${this.pid})`) : r;
  }

  status(): ProcessInfo {
    const running = this.isRunning();
    return { running, pid: running ? this.pid : 0, sinceMs: running ? this.sinceMs : 0 };
  }

  stats(): Promise<ServiceStats | undefined> {
    return this.isRunning() ? this.opts.stats() : Promise.resolve(undefined);
  }

  onExit(listener: (i: ExitInfo) => void): () => void {
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  close(): void {
    this.stopPoll();
    this.exitListeners.clear();
  }

  private isRunning(): boolean {
    return this.pid > 0 && isAlive(this.pid, this.startTime || undefined);
  }

  private removeStalePidFiles(): void {
    for (const file of this.opts.spec.pidFiles) {
      let pid: number;
      try {
        pid = Number(readFileSync(file, 'utf8').trim());
      } catch {
        continue;
      }
      if (isAlive(pid)) continue;
      try {
        unlinkSync(file);
        this.opts.logger.info({ event: 'service.stale_pidfile', service: this.name, file, pid }, `removed stale pid file ${file}`);
      } catch {
        // gone meanwhile
      }
    }
  }

  private signal(sig: NodeJS.Signals): void {
    try {
      process.kill(this.pid, sig);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw new ServiceError(this.name, `cannot send ${sig} to pid ${this.pid}`, { cause: err });
    }
  }

  private pollAdopted(): void {
    this.stopPoll();
    const pid = this.pid;
    const startTime = this.startTime;
    // On the agent's tick grid (util/tick-scheduler.ts).
    const cancel = ticks.every(this.opts.pollMs, () => {
      if (this.pid !== pid) {
        this.stopPoll(cancel);
        return;
      }
      if (!isAlive(pid, startTime)) {
        this.stopPoll(cancel);
        this.onChildExit(pid, null, null);
      }
    });
    this.pollTimer = cancel;
  }

  /** Ends the poll of an adopted daemon (only `which`, when given: an older poll ends itself). */
  private stopPoll(which?: () => void): void {
    which?.();
    if (which !== undefined && this.pollTimer !== which) return;
    this.pollTimer?.();
    this.pollTimer = undefined;
  }

  private onChildExit(pid: number, code: number | null, signal: string | null): void {
    if (pid !== this.pid) return;
    // The daemon leads its own process group. A master killed with SIGKILL leaves its workers
    // behind, still holding the listening sockets, and a new master could not bind. Where they
    // can finish on their own (nginx, haproxy) they are told to stop gracefully, which closes
    // their listeners at once and lets them end the requests they are serving instead of
    // resetting them; the next start waits for the listeners (releaseOrphans). Otherwise, and
    // after an exit the agent caused, they are killed.
    if (this.opts.spec.orphansFinish && !this.expectingExit && this.exitWaiters.length === 0) {
      signalGroup(pid, this.opts.spec.stopSignal);
      this.orphans = pid;
    } else {
      signalGroup(pid, 'SIGKILL');
    }
    void this.readLogTail().then((logTail) => {
      if (pid !== this.pid) return;
      const info: ExitInfo = { pid, code, signal, logTail };
      this.clear();
      const waiters = this.exitWaiters;
      this.exitWaiters = [];
      for (const w of waiters) w(info);
      if (waiters.length > 0 || this.expectingExit) return;
      this.opts.logger.warn({ event: 'service.exited', service: this.name, pid, code, signal }, `${this.name} exited (${describeExit(info)})`);
      for (const l of this.exitListeners) l(info);
    });
  }

  /**
   * Before a start, after the daemon died with processes left to finish (onChildExit): waits until
   * none of them holds a listening socket, so the new daemon can bind. One that still does after
   * ORPHAN_LISTEN_MS did not act on the stop signal (stopped, hung) and is killed. The others get
   * the stop timeout to finish, as in a graceful stop, and are killed after it.
   */
  private async releaseOrphans(): Promise<void> {
    const pgid = this.orphans;
    this.orphans = undefined;
    if (pgid === undefined) return;
    // The group is read once, a scan of all of /proc; the polls look at its members alone. A
    // dead master's workers start no processes, so the group only shrinks. By pid and start
    // time: a pid (or the group's id) may be another process's by then.
    const members = processGroup(pgid)
      .map((pid) => ({ pid, startTime: readProcStat(pid)?.startTime ?? '' }))
      .filter((p) => p.startTime !== '');
    const alive = () => members.filter((p) => isAlive(p.pid, p.startTime));
    const listening = () => {
      const live = alive();
      // The usual answer, none listens (a stop signal closes the listeners at once), takes one
      // read of the socket tables, and none when they hold no socket; only a member that
      // still listens takes a read of its own.
      const inodes = socketInodes(live.map((p) => p.pid));
      if (inodes.size === 0 || readListenQueues(inodes).listeners === 0) return [];
      return live.filter((p) => readListenQueues(socketInodes([p.pid])).listeners > 0);
    };
    const deadline = Date.now() + ORPHAN_LISTEN_MS;
    let holding = listening();
    while (holding.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, ORPHAN_POLL_MS));
      holding = listening();
    }
    for (const p of holding) {
      this.opts.logger.warn({ event: 'service.orphan_killed', service: this.name, pid: p.pid }, `${this.name}: process ${p.pid} of the dead daemon still listens after ${ORPHAN_LISTEN_MS} ms; killing it`);
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    const left = alive();
    if (left.length === 0) return;
    this.opts.logger.info({ event: 'service.orphans_finishing', service: this.name, pids: left.map((p) => p.pid) }, `${this.name}: ${left.length} process(es) of the dead daemon finish what they serve (at most ${this.opts.stopTimeoutMs} ms)`);
    setTimeout(() => {
      for (const p of left) {
        if (!isAlive(p.pid, p.startTime)) continue;
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    }, this.opts.stopTimeoutMs).unref();
  }

  private clear(): void {
    // The adopted daemon is no longer the current process: a later one is our child, whose exit
    // comes as an event, and waitExit must look at it at once rather than wait for a poll.
    this.stopPoll();
    this.pid = 0;
    this.startTime = '';
    this.sinceMs = 0;
    try {
      unlinkSync(this.opts.pidFile);
    } catch {
      // already gone
    }
  }

  private waitExit(ms: number): Promise<ExitInfo | undefined> {
    if (this.pid === 0) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const waiter = (i: ExitInfo): void => {
        clearTimeout(t);
        resolve(i);
      };
      const t = setTimeout(() => {
        this.exitWaiters = this.exitWaiters.filter((w) => w !== waiter);
        resolve(undefined);
      }, ms);
      this.exitWaiters.push(waiter);
      // An adopted daemon is not our child: its exit is found by polling /proc.
      if (!this.pollTimer && !this.isRunning()) this.onChildExit(this.pid, null, null);
    });
  }

  private async logSize(): Promise<number> {
    try {
      return (await stat(this.opts.logFile)).size;
    } catch {
      return 0;
    }
  }

  private async readLogTail(): Promise<string> {
    try {
      const fh = await open(this.opts.logFile, 'r');
      try {
        const size = (await fh.stat()).size;
        const from = Math.max(this.logOffset, size - 2048);
        const buf = Buffer.alloc(Math.max(0, size - from));
        await fh.read(buf, 0, buf.length, from);
        return buf.toString('utf8').trim().split('\n').slice(-5).join(' | ');
      } finally {
        await fh.close();
      }
    } catch {
      return '';
    }
  }
}

function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    // no process left in the group
  }
}

/** How long a start waits for a dead daemon's processes to close their listeners. */
const ORPHAN_LISTEN_MS = 1_000;
const ORPHAN_POLL_MS = 10;

export function describeExit(i: Pick<ExitInfo, 'code' | 'signal'>): string {
  if (i.signal) return `killed by ${i.signal}`;
  if (i.code !== null) return `exit code ${i.code}`;
  return 'gone';
}
