// Runs coordinator commands exactly once per id. A repeated id (a resend after a reconnect)
// gets the earlier result replayed, or joins the run in progress; results survive an agent
// restart in the state directory and are replayed in Hello.
import type { Command, CommandResult, CommandState, Logger } from '@lbha/shared';
import type { JsonFile } from '../state/json-file.js';
import { serviceNameProblem } from './service-name.js';

export type Report = (r: CommandResult) => void;

/** The outcome of one action, in words for the operator. */
export interface ActionOutcome {
  readonly state: 'succeeded' | 'failed';
  readonly message: string;
  readonly activeConnections: number;
}

/** What the journal needs from the agent to carry out the four actions. */
export interface CommandExecutor {
  /** Names that reload/restart accept. */
  serviceNames(): readonly string[];
  drain(untilMs: number, progress: (activeConnections: number, message: string) => void): Promise<ActionOutcome>;
  undrain(): Promise<ActionOutcome>;
  reload(service: string): Promise<ActionOutcome>;
  restart(service: string): Promise<ActionOutcome>;
  validate(service: string): Promise<ActionOutcome>;
}

export interface CommandJournalOptions {
  readonly executor: CommandExecutor;
  readonly store: JsonFile<CommandResult[]>;
  readonly logger: Logger;
  /** Default drain timeout when the command carries none. */
  readonly defaultDrainMs: number;
  readonly capacity?: number;
  readonly now?: () => number;
  readonly onFinished?: (command: Command, result: CommandResult) => void;
}

interface Running {
  readonly command: Command;
  latest: CommandResult;
  readonly reporters: Set<Report>;
}

export class CommandJournal {
  private readonly finished = new Map<string, CommandResult>();
  private readonly running = new Map<string, Running>();
  private readonly capacity: number;
  private readonly now: () => number;
  private persisting: Promise<void> = Promise.resolve();

  constructor(private readonly opts: CommandJournalOptions) {
    this.capacity = opts.capacity ?? 200;
    this.now = opts.now ?? Date.now;
  }

  async load(): Promise<void> {
    const saved = await this.opts.store.load();
    if (!Array.isArray(saved)) return;
    for (const r of saved.slice(-this.capacity)) if (r && typeof r.commandId === 'string') this.finished.set(r.commandId, r);
  }

  /** Finished results, oldest first. */
  recent(): readonly CommandResult[] {
    return [...this.finished.values()];
  }

  /** The services a running reload, restart or validate command acts on. */
  busyServices(): string[] {
    const out: string[] = [];
    for (const r of this.running.values()) {
      const a = r.command.action;
      if (a.kind === 'reload' || a.kind === 'restart' || a.kind === 'validate') out.push(a.service);
    }
    return out;
  }

  run(command: Command, report: Report): void {
    const done = this.finished.get(command.id);
    if (done) {
      report(done);
      return;
    }
    const inFlight = this.running.get(command.id);
    if (inFlight) {
      inFlight.reporters.add(report);
      report(inFlight.latest);
      return;
    }
    const problem = this.problem(command);
    if (problem) {
      this.finish(command, { state: 'rejected', message: problem, activeConnections: 0 }, new Set([report]));
      return;
    }
    const run: Running = { command, latest: this.result(command.id, 'accepted', `${describe(command)} accepted`, 0), reporters: new Set([report]) };
    this.running.set(command.id, run);
    report(run.latest);
    this.opts.logger.info({ event: 'command.started', commandId: command.id, action: command.action.kind }, `${describe(command)} started`);
    void this.execute(command, run);
  }

  private problem(c: Command): string | undefined {
    if (!c.id || c.id.length > 128) return 'command id must be 1 to 128 characters';
    if (c.deadlineMs > 0 && c.deadlineMs < this.now()) return `deadline passed ${this.now() - c.deadlineMs}ms ago; not started`;
    const a = c.action;
    switch (a.kind) {
      case 'drain':
      case 'undrain':
        return undefined;
      case 'reload':
      case 'restart':
      case 'validate':
        return serviceNameProblem(a.service, this.opts.executor.serviceNames());
      default:
        return `unknown action ${JSON.stringify((a as { kind: unknown }).kind)}`;
    }
  }

  private async execute(command: Command, run: Running): Promise<void> {
    const progress = (state: CommandState, message: string, activeConnections: number): void => {
      run.latest = this.result(command.id, state, message, activeConnections);
      for (const r of run.reporters) r(run.latest);
    };
    progress('running', `${describe(command)} running`, 0);
    let outcome: ActionOutcome;
    try {
      const a = command.action;
      switch (a.kind) {
        case 'drain': {
          const timeout = a.timeoutMs > 0 ? a.timeoutMs : this.opts.defaultDrainMs;
          const until = command.deadlineMs > 0 ? Math.min(command.deadlineMs, this.now() + timeout) : this.now() + timeout;
          outcome = await this.opts.executor.drain(until, (n, m) => progress('running', m, n));
          break;
        }
        case 'undrain':
          outcome = await this.opts.executor.undrain();
          break;
        case 'reload':
          outcome = await this.opts.executor.reload(a.service);
          break;
        case 'restart':
          outcome = await this.opts.executor.restart(a.service);
          break;
        case 'validate':
          outcome = await this.opts.executor.validate(a.service);
          break;
      }
    } catch (err) {
      outcome = { state: 'failed', message: `${describe(command)} failed: ${(err as Error).message}`, activeConnections: 0 };
    }
    this.running.delete(command.id);
    this.finish(command, outcome, run.reporters);
  }

  private finish(command: Command, o: { state: CommandState; message: string; activeConnections: number }, reporters: Set<Report>): void {
    const result = this.result(command.id, o.state, o.message, o.activeConnections);
    this.finished.set(command.id, result);
    while (this.finished.size > this.capacity) this.finished.delete(this.finished.keys().next().value as string);
    const snapshot = this.recent();
    this.persisting = this.persisting
      .then(() => this.opts.store.save([...snapshot]))
      .catch((err: Error) => this.opts.logger.error({ event: 'command.persist_failed', err: err.message }, 'cannot persist command results'));
    this.opts.logger.info({ event: 'command.finished', commandId: command.id, action: command.action.kind, state: o.state, message: o.message }, o.message);
    this.opts.onFinished?.(command, result);
    for (const r of reporters) r(result);
  }

  /** Resolves once every result so far is on disk. */
  flush(): Promise<void> {
    return this.persisting;
  }

  private result(commandId: string, state: CommandState, message: string, activeConnections: number): CommandResult {
    return { commandId, state, message, activeConnections, finishedMs: state === 'accepted' || state === 'running' ? 0 : this.now() };
  }
}

function describe(c: Command): string {
  const a = c.action;
  return a.kind === 'reload' || a.kind === 'restart' || a.kind === 'validate' ? `${a.kind} ${a.service}` : a.kind;
}
