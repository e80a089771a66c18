// Spec checks off the event loop. Parsing and validating a large spec takes hundreds of
// milliseconds (the YAML parser alone is ~1 ms per kilobyte), and ValidateSpec is open to
// read-only callers: on the event loop, one such call would stall heartbeats and mark agents
// stale. So every check runs in one worker thread shared by the process, with a bounded queue
// (a full queue refuses the call) and a deadline (a check that runs away is killed and the
// worker restarted).
import { Worker } from 'node:worker_threads';
import { ResourceExhaustedError } from '../errors.js';
import type { SpecCheckRequest, SpecCheckResult } from './spec-check.js';

export interface SpecValidatorOptions {
  /** Checks waiting or running at once, all callers together; more are refused. */
  readonly maxQueued?: number;
  /** Checks one caller may have waiting or running at once. */
  readonly maxPerCaller?: number;
  /** A check running longer than this is abandoned and the worker restarted. */
  readonly timeoutMs?: number;
}

interface Pending {
  readonly id: number;
  readonly request: SpecCheckRequest;
  readonly caller: string;
  readonly timeoutMs: number;
  readonly resolve: (r: SpecCheckResult) => void;
  readonly reject: (e: Error) => void;
}

const WORKER_URL = new URL('./spec-worker.js', import.meta.url);

/** The spec worker's heap: a document that expands into more ends the worker, not the coordinator. */
export const SPEC_WORKER_HEAP_MB = 512;

/** How long a check may run by default (the worker's start included, for the first one). */
export const SPEC_CHECK_TIMEOUT_MS = 30_000;

export class SpecValidator {
  private worker: Worker | undefined;
  private readonly queue: Pending[] = [];
  private running: Pending | undefined;
  private timer: NodeJS.Timeout | undefined;
  private nextId = 0;
  private readonly perCaller = new Map<string, number>();
  private readonly maxQueued: number;
  private readonly maxPerCaller: number;
  private readonly timeoutMs: number;
  private closed = false;

  constructor(opts: SpecValidatorOptions = {}) {
    this.maxQueued = opts.maxQueued ?? 8;
    this.maxPerCaller = opts.maxPerCaller ?? 2;
    this.timeoutMs = opts.timeoutMs ?? SPEC_CHECK_TIMEOUT_MS;
  }

  /**
   * Checks a spec in the worker; refuses with ResourceExhaustedError when too many are waiting.
   * `timeoutMs` replaces the default deadline for this check (the coordinator's own stored spec
   * at start-up: on a busy core a large one can take longer than a caller may, and running out
   * of time there would stop the coordinator).
   */
  check(request: SpecCheckRequest, caller = 'system', timeoutMs = this.timeoutMs): Promise<SpecCheckResult> {
    if (this.closed) return Promise.reject(new Error('spec validator is closed'));
    const mine = this.perCaller.get(caller) ?? 0;
    if (mine >= this.maxPerCaller) {
      return Promise.reject(new ResourceExhaustedError(`${caller} already has ${mine} spec checks running; wait for them to finish`));
    }
    // Validations (any reader may ask) leave room for applies (operators only), which also go first.
    const room = request.wantSpec ? this.maxQueued : this.maxQueued - 2;
    if (this.queue.length + (this.running ? 1 : 0) >= room) {
      return Promise.reject(new ResourceExhaustedError('the coordinator is busy checking other specs; retry in a moment'));
    }
    this.perCaller.set(caller, mine + 1);
    return new Promise<SpecCheckResult>((resolve, reject) => {
      const done = () => {
        const n = (this.perCaller.get(caller) ?? 1) - 1;
        if (n <= 0) this.perCaller.delete(caller);
        else this.perCaller.set(caller, n);
      };
      const p: Pending = { id: ++this.nextId, request, caller, timeoutMs, resolve: (r) => (done(), resolve(r)), reject: (e) => (done(), reject(e)) };
      const at = request.wantSpec ? this.queue.findIndex((q) => !q.request.wantSpec) : -1;
      if (at < 0) this.queue.push(p);
      else this.queue.splice(at, 0, p);
      this.pump();
    });
  }

  /** Stops the worker; pending checks fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new Error('spec validator closed'));
    this.running?.reject(new Error('spec validator closed'));
    this.running = undefined;
    if (this.timer) clearTimeout(this.timer);
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }

  private spawn(): Worker {
    const w = new Worker(WORKER_URL, { resourceLimits: { maxOldGenerationSizeMb: SPEC_WORKER_HEAP_MB } });
    w.on('message', (msg: { id: number; result?: SpecCheckResult; error?: string }) => {
      const p = this.running;
      if (!p || p.id !== msg.id) return;
      this.finish();
      if (msg.error !== undefined) p.reject(new Error(`spec check failed: ${msg.error}`));
      else p.resolve(msg.result as SpecCheckResult);
    });
    w.on('error', (err: Error & { code?: string }) =>
      this.crashed(w, err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? new ResourceExhaustedError('the spec check ran out of memory; the spec is too large') : err),
    );
    w.on('exit', (code) => this.crashed(w, new Error(`spec worker exited with code ${code}`)));
    return w;
  }

  private crashed(w: Worker, err: Error): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    const p = this.running;
    this.finish();
    p?.reject(err);
  }

  private finish(): void {
    // An idle worker must not keep the process alive; a busy one must (a caller awaits it).
    this.worker?.unref();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.running = undefined;
    queueMicrotask(() => this.pump());
  }

  private pump(): void {
    if (this.running || this.closed) return;
    const p = this.queue.shift();
    if (!p) return;
    this.running = p;
    this.worker ??= this.spawn();
    const w = this.worker;
    w.ref();
    this.timer = setTimeout(() => {
      // A check that never ends: kill the worker; the next check gets a new one.
      this.worker = undefined;
      this.finish();
      p.reject(new ResourceExhaustedError(`spec check took longer than ${p.timeoutMs}ms and was abandoned`));
      void w.terminate();
    }, p.timeoutMs);
    this.timer.unref();
    w.postMessage({ id: p.id, request: p.request });
  }
}
