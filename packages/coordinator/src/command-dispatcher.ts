// Sends commands to agents so that none is lost and none runs twice. A command is written to
// the journal in the store before it is sent; its id comes from the operation step that issues
// it, so a resumed step issues the same id again. Unfinished commands are sent again when the
// agent reconnects (the agent reports results of ids it already ran, in Hello or at once, and
// never runs an id twice), and results update the journal.
import type { CommandAction, CommandResult, Logger } from '@lbha/shared';
import type { AgentOutbox } from './agent-outbox.js';
import type { Registry, RegistryEvent } from './registry.js';
import { isFinalCommandState, type CoordinatorState, type JournalEntry } from './store/coordinator-state.js';

export interface CommandDispatcherOptions {
  /** Where results and reconnects come from. */
  readonly registry: Pick<Registry, 'subscribe'>;
  readonly outbox: Pick<AgentOutbox, 'sendCommand'>;
  readonly state: CoordinatorState;
  readonly logger: Logger;
  readonly clock?: () => number;
}

export interface IssueRequest {
  readonly id: string;
  readonly node: string;
  readonly action: CommandAction;
  readonly operationId: string;
  readonly deadlineMs: number;
}

export class CommandDispatcher {
  private readonly registry: CommandDispatcherOptions['registry'];
  private readonly outbox: CommandDispatcherOptions['outbox'];
  private readonly state: CoordinatorState;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly entries = new Map<string, JournalEntry>();
  private readonly listeners = new Map<string, Set<(e: JournalEntry) => void>>();
  private unsubscribe: (() => void) | undefined;
  private writes: Promise<void> = Promise.resolve();

  constructor(opts: CommandDispatcherOptions) {
    this.registry = opts.registry;
    this.outbox = opts.outbox;
    this.state = opts.state;
    this.log = opts.logger;
    this.clock = opts.clock ?? Date.now;
  }

  /** Restores the journal (after a restart) before agents connect. */
  load(entries: readonly JournalEntry[]): void {
    for (const e of entries) this.entries.set(e.id, e);
  }

  start(): void {
    this.unsubscribe = this.registry.subscribe((e) => this.onRegistryEvent(e));
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.writes;
  }

  get(id: string): JournalEntry | undefined {
    return this.entries.get(id);
  }

  /**
   * Journals the command (durably) and sends it if the agent is connected. Issuing an id that
   * is already journaled sends nothing new: an unfinished one is sent again, a finished one not.
   */
  async issue(req: IssueRequest): Promise<JournalEntry> {
    const existing = this.entries.get(req.id);
    if (existing) {
      if (!isFinalCommandState(existing.state)) this.send(existing);
      return existing;
    }
    const now = this.clock();
    const entry: JournalEntry = { ...req, state: 'pending', message: '', activeConnections: 0, createdMs: now, updatedMs: now };
    this.entries.set(entry.id, entry);
    await this.persist(entry);
    this.send(entry);
    return entry;
  }

  /**
   * Resolves with the entry once it is final, or as it is when `timeoutMs` passes or `signal`
   * aborts. `onUpdate` sees every intermediate report (accepted, running with progress).
   */
  wait(id: string, timeoutMs: number, onUpdate?: (e: JournalEntry) => void, signal?: AbortSignal): Promise<JournalEntry | undefined> {
    const now = this.entries.get(id);
    if (!now || isFinalCommandState(now.state)) return Promise.resolve(now);
    return new Promise((resolve) => {
      const listener = (e: JournalEntry) => {
        onUpdate?.(e);
        if (isFinalCommandState(e.state)) done();
      };
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.listeners.get(id)?.delete(listener);
        resolve(this.entries.get(id));
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      signal?.addEventListener('abort', done);
      let set = this.listeners.get(id);
      if (!set) this.listeners.set(id, (set = new Set()));
      set.add(listener);
    });
  }

  private send(e: JournalEntry): void {
    const sent = this.outbox.sendCommand(e.node, { id: e.id, deadlineMs: e.deadlineMs, action: e.action });
    this.log.info({ event: sent ? 'command.sent' : 'command.queued', node: e.node, commandId: e.id, action: e.action.kind }, sent ? 'command sent to agent' : 'agent not connected; command waits for it');
  }

  private onRegistryEvent(ev: RegistryEvent): void {
    if (ev.type === 'command-result') this.onResult(ev.node, ev.result);
    else if (ev.type === 'connected') {
      // Hello's recent results are recorded right after 'connected', in the same tick; resend
      // only what they did not finish.
      setImmediate(() => {
        for (const e of this.entries.values()) if (e.node === ev.node && !isFinalCommandState(e.state)) this.send(e);
      });
    }
  }

  private onResult(node: string, r: CommandResult): void {
    const e = this.entries.get(r.commandId);
    if (!e) {
      this.log.debug({ event: 'command.unknown_result', node, commandId: r.commandId }, 'result for a command not in the journal');
      return;
    }
    if (e.node !== node) {
      this.log.warn({ event: 'command.foreign_result', node, commandId: r.commandId, owner: e.node }, 'result from a node the command was not sent to; ignored');
      return;
    }
    // A final state is never overwritten (a replayed result of an earlier run changes nothing).
    if (isFinalCommandState(e.state)) return;
    const next: JournalEntry = { ...e, state: r.state, message: r.message, activeConnections: r.activeConnections, updatedMs: this.clock() };
    this.entries.set(e.id, next);
    if (isFinalCommandState(next.state) || e.state === 'pending') void this.persist(next);
    for (const l of [...(this.listeners.get(e.id) ?? [])]) l(next);
  }

  private persist(e: JournalEntry): Promise<void> {
    const write = this.writes.then(() => this.state.write({ journal: [e] }));
    this.writes = write.catch((err: unknown) => this.log.error({ event: 'store.write_failed', err, commandId: e.id }, 'could not journal command'));
    return write;
  }
}
