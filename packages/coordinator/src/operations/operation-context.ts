// One running operation as its procedure sees it: its record, its steps (each recorded as it
// starts and ends, and skipped when a previous run completed it), the facts a resumed run needs,
// the time left, and the signal that cancel or shutdown raise.
import { OperationFailedError } from '../errors.js';
import type { OperationRecord, OperationStep } from '../store/coordinator-state.js';
import type { OperationEnv } from './operation-env.js';

/** Raised inside a step when the operation is cancelled or the coordinator shuts down. */
export class Interrupted extends Error {
  override readonly name = 'Interrupted';
}

/** How an operation's record is saved: persisted, or only shown (progress ticks). */
export type SaveRecord = (record: OperationRecord, persist: boolean) => Promise<void>;

export class OperationContext {
  /** The deadline steps are given their time from; procedures narrow it with within(). */
  private deadlineMs: number;

  constructor(
    public record: OperationRecord,
    readonly env: OperationEnv,
    readonly signal: AbortSignal,
    private readonly persist: SaveRecord,
  ) {
    this.deadlineMs = record.deadlineMs;
  }

  get id(): string {
    return this.record.id;
  }

  now(): number {
    return this.env.clock();
  }

  /** Time left before the current deadline (0 once it has passed: a wait then looks once). */
  remaining(): number {
    return Math.max(0, this.deadlineMs - this.now());
  }

  /** Runs `fn` with a deadline no later than `deadlineMs` (one node of a rolling restart, the drain part of a restart). */
  async within<T>(deadlineMs: number, fn: () => Promise<T>): Promise<T> {
    const outer = this.deadlineMs;
    this.deadlineMs = Math.min(outer, deadlineMs);
    try {
      return await fn();
    } finally {
      this.deadlineMs = outer;
    }
  }

  /** The deadline in force now. */
  deadline(): number {
    return this.deadlineMs;
  }

  data(key: string): string | undefined {
    return this.record.data[key];
  }

  /** Records facts before acting on them, so that a resumed run takes the same decisions. */
  async setData(values: Record<string, string>): Promise<void> {
    await this.save({ data: { ...this.record.data, ...values } });
  }

  async save(change: Partial<OperationRecord>, persist = true): Promise<void> {
    this.record = { ...this.record, ...change, updatedMs: this.now() };
    await this.persist(this.record, persist);
  }

  /** Throws Interrupted when cancel or shutdown asked the operation to stop. */
  checkInterrupt(): void {
    if (this.signal.aborted) throw new Interrupted();
  }

  /** Resolves true once `predicate` holds (re-checked after every pass and agent report), false when the time left runs out. */
  async waitFor(predicate: () => boolean, timeoutMs = this.remaining()): Promise<boolean> {
    const ok = await this.env.view.waitUntil(predicate, timeoutMs, this.signal);
    this.checkInterrupt();
    return ok;
  }

  /** Runs a step unless an earlier run of this operation completed it; `fn` returns its message. */
  async step(name: string, fn: () => Promise<string>): Promise<void> {
    const done = this.record.steps.find((s) => s.name === name && (s.state === 'succeeded' || s.state === 'skipped'));
    if (done) return;
    this.checkInterrupt();
    const startedMs = this.now();
    await this.putStep({ name, state: 'running', message: '', startedMs, finishedMs: 0 });
    let message: string;
    try {
      message = await fn();
    } catch (err) {
      if (err instanceof Interrupted || this.signal.aborted) throw new Interrupted();
      const msg = err instanceof OperationFailedError ? err.message : `internal error: ${(err as Error).message}`;
      await this.putStep({ name, state: 'failed', message: msg, startedMs, finishedMs: this.now() });
      throw err instanceof OperationFailedError ? err : new OperationFailedError(msg);
    }
    this.checkInterrupt();
    await this.putStep({ name, state: 'succeeded', message, startedMs, finishedMs: this.now() });
  }

  private async putStep(s: OperationStep): Promise<void> {
    const steps = this.record.steps.filter((x) => x.name !== s.name);
    steps.push(s);
    await this.save({ steps, message: s.state === 'running' ? `${s.name}...` : s.message || this.record.message });
  }
}

/** "12.3s": a duration for messages. */
export function secs(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}
