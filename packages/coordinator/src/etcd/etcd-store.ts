// The coordinator store on etcd: the same get/list/txn port as the file store, so node modes,
// drains, operations, the command journal and the spec live in etcd, shared by every
// coordinator. A store revision is etcd's mod_revision (global, increasing, never reused), so
// compare-and-swap maps one to one onto etcd transaction compares. Writes are fenced: each is
// nested in an outer transaction that holds only while this coordinator's leader key is the
// one it created, so a deposed leader's late write is refused by etcd itself.
//
// etcd losing a member (or electing a new raft leader) makes requests time out for a moment;
// the store retries them for up to `retryForMs`. A timed-out transaction may still have been
// applied, so every transaction also writes a marker key owned by this store object with the
// transaction's id: before a retry, the marker says whether the first attempt went through.
import { randomUUID } from 'node:crypto';
import { GRPCInvalidArgumentError, type Etcd3, type ICompare, type IKeyValue, type IRequestOp, type ITxnResponse } from 'etcd3';
import { StoreError, StoreTooLargeError } from '../errors.js';
import { appendProblem, opsJson, oversizeProblem, txnBytes, type LogBounds, type LogName, type LogRecord, type Store, type StoreCompare, type StoreEntry, type StoreObserver, type StoreOp, type TxnResult } from '../store/store.js';
import type { Fence } from './leadership.js';
import type { StoreHealth } from './store-health.js';

export interface EtcdStoreOptions {
  readonly client: Etcd3;
  /** Key prefix of this installation, ending in '/'; data keys live under `${prefix}data/`. */
  readonly prefix: string;
  /**
   * The fence for writes. Returning undefined refuses the write (not the leader). Leave the
   * option out only where a single writer is guaranteed otherwise (tests, tools).
   */
  readonly fence?: () => Fence | undefined;
  /** Told when a write found the fence gone, i.e. another coordinator took over. */
  readonly onFenceLost?: (term: string) => void;
  readonly health?: StoreHealth;
  /** How long a request is retried while etcd does not answer (default 5s; 0: no retry). */
  readonly retryForMs?: number;
  /** etcd's --max-request-bytes: no transaction is sent larger (default etcd's, 1.5 MiB). */
  readonly maxRequestBytes?: number;
  /** Told how long each applied transaction took (the coordinator's metrics). */
  readonly observer?: StoreObserver;
}

/** etcd's default --max-request-bytes. */
export const ETCD_DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;

/**
 * How etcd says that a request is over --max-request-bytes: etcd itself, or its gRPC server
 * for a request over the limit plus gRPC's 512 KiB margin. (A response too large for this
 * client is grpc-js's "Received message larger than max", not a refusal of the request.)
 */
const TOO_LARGE = /etcdserver: request is too large|grpc: received message larger than max/;

function tooLargeAdvice(limit: number): string {
  return `etcd takes requests up to its --max-request-bytes (the coordinator assumes ${limit} bytes: etcd.maxRequestBytes); raise both together, or make the write smaller`;
}

/** The first key after every key starting with `prefix` (etcd's range_end for a prefix). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class EtcdStore implements Store {
  private readonly dataPrefix: string;
  private readonly marker: Buffer;
  private readonly retryForMs: number;
  readonly valueLimit: number;
  private closed = false;
  /** Transactions of this store run one at a time, so its marker tells about the last one. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: EtcdStoreOptions) {
    this.dataPrefix = `${opts.prefix}data/`;
    this.marker = Buffer.from(`${opts.prefix}writers/${randomUUID()}`);
    this.retryForMs = opts.retryForMs ?? 5000;
    // The marker key, the fence's nesting and gRPC's framing ride along: 8 KiB is plenty.
    this.valueLimit = (opts.maxRequestBytes ?? ETCD_DEFAULT_MAX_REQUEST_BYTES) - 8192;
  }

  private k(key: string): Buffer {
    return Buffer.from(this.dataPrefix + key);
  }

  private entry<T>(kv: IKeyValue): StoreEntry<T> {
    const key = kv.key.toString().slice(this.dataPrefix.length);
    let value: T;
    try {
      value = JSON.parse(kv.value.toString()) as T;
    } catch (cause) {
      throw new StoreError(`etcd key ${kv.key.toString()} does not hold JSON`, { cause });
    }
    return { key, value, revision: Number(kv.mod_revision) };
  }

  /**
   * Runs an etcd request, retrying while etcd does not answer, turning failures into StoreError
   * and feeding the health status. `beforeRetry` may settle the outcome instead of a retry.
   */
  private async call<T>(what: string, fn: () => Promise<T>, beforeRetry?: () => Promise<T | undefined>): Promise<T> {
    const giveUpAt = performance.now() + this.retryForMs;
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new StoreError('etcd store is closed');
      try {
        const r = attempt > 0 && beforeRetry ? ((await beforeRetry()) ?? (await fn())) : await fn();
        this.opts.health?.succeeded();
        return r;
      } catch (cause) {
        if (cause instanceof StoreError) throw cause;
        // Too large stays too large: say so at once instead of retrying.
        if (TOO_LARGE.test((cause as Error).message)) throw new StoreTooLargeError(`etcd refused the ${what} as too large (${(cause as Error).message}); ${tooLargeAdvice(this.valueLimit + 8192)}`, { cause });
        if (cause instanceof GRPCInvalidArgumentError) {
          // etcd answered and refused the request (e.g. too many operations in a transaction):
          // a retry gets the same answer, and etcd is not down.
          this.opts.health?.succeeded();
          throw new StoreError(`etcd refused ${what}: ${cause.message}`, { cause });
        }
        this.opts.health?.failed(cause);
        if (performance.now() + 100 >= giveUpAt) throw new StoreError(`etcd ${what} failed: ${(cause as Error).message}`, { cause });
        await sleep(Math.min(100 * 2 ** attempt, 500));
      }
    }
  }

  async get<T = unknown>(key: string): Promise<StoreEntry<T> | undefined> {
    const res = await this.call(`get ${key}`, () => this.opts.client.kv.range({ key: this.k(key) }));
    const kv = res.kvs[0];
    return kv ? this.entry<T>(kv) : undefined;
  }

  async list<T = unknown>(prefix: string): Promise<Array<StoreEntry<T>>> {
    const start = this.k(prefix);
    const res = await this.call(`list ${prefix}`, () => this.opts.client.kv.range({ key: start, range_end: prefixEnd(start), sort_target: 'Key', sort_order: 'Ascend' }));
    return res.kvs.map((kv) => this.entry<T>(kv));
  }

  txn(compares: readonly StoreCompare[], ops: readonly StoreOp[]): Promise<TxnResult> {
    const run = this.queue.then(() => this.runTxn(compares, ops));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private fenceNow(): Fence | undefined {
    const fence = this.opts.fence ? this.opts.fence() : undefined;
    if (this.opts.fence && !fence) throw new StoreError('this coordinator is not the leader: write refused');
    return fence;
  }

  private async runTxn(compares: readonly StoreCompare[], ops: readonly StoreOp[]): Promise<TxnResult> {
    // Each value is turned into JSON once, for its size and for the request.
    const json = opsJson(ops);
    const oversize = oversizeProblem(txnBytes(ops, json), this.valueLimit);
    if (oversize) throw new StoreTooLargeError(`${oversize}: ${tooLargeAdvice(this.valueLimit + 8192)}`);
    let fence = this.fenceNow();
    const id = randomUUID();
    const inner = {
      compare: compares.map((c): ICompare =>
        c.revision === 0
          ? { key: this.k(c.key), target: 'Create', result: 'Equal', create_revision: 0 }
          : { key: this.k(c.key), target: 'Mod', result: 'Equal', mod_revision: c.revision },
      ),
      success: [...this.requestOps(ops, json), { request_put: { key: this.marker, value: Buffer.from(id), ...(fence ? { lease: fence.leaseId } : {}) } }],
      failure: compares.map((c): IRequestOp => ({ request_range: { key: this.k(c.key), keys_only: true } })),
    };
    const send = () => {
      fence = this.fenceNow();
      return fence
        ? this.opts.client.kv.txn({
            compare: [{ key: fence.key, target: 'Create', result: 'Equal', create_revision: fence.term }],
            success: [{ request_txn: inner }],
            failure: [],
          })
        : this.opts.client.kv.txn(inner);
    };
    // After a failure whose outcome is unknown: if the marker holds this transaction's id, it
    // was applied; answer as etcd would have.
    const appliedEarlier = async (): Promise<ITxnResponse | undefined> => {
      const kv = (await this.opts.client.kv.range({ key: this.marker })).kvs[0];
      if (kv?.value.toString() !== id) return undefined;
      const header = { revision: kv.mod_revision } as ITxnResponse['header'];
      const applied = { header, succeeded: true, responses: [] } as unknown as ITxnResponse;
      return fence ? ({ header, succeeded: true, responses: [{ response_txn: applied }] } as unknown as ITxnResponse) : applied;
    };
    const started = performance.now();
    const res = await this.call('transaction', send, appliedEarlier);
    this.opts.observer?.transactionDurable((performance.now() - started) / 1000);
    let result: ITxnResponse = res;
    if (fence) {
      if (!res.succeeded) {
        this.opts.onFenceLost?.(fence.term);
        throw new StoreError(`leadership term ${fence.term} is over (another coordinator took over): write refused`);
      }
      result = res.responses[0]!.response_txn;
    }
    if (result.succeeded) return { ok: true, revision: Number(res.header.revision) };
    const conflicts = compares
      .filter((c, i) => {
        const kv = result.responses[i]?.response_range?.kvs[0];
        return (kv ? Number(kv.mod_revision) : 0) !== c.revision;
      })
      .map((c) => c.key);
    return { ok: false, conflicts: conflicts.length > 0 ? conflicts : compares.map((c) => c.key) };
  }

  /** `json`: each op's value as JSON (opsJson). */
  private requestOps(ops: readonly StoreOp[], json: ReadonlyArray<string | undefined>): IRequestOp[] {
    // etcd refuses a transaction that touches one key twice; the last op on a key wins, as in
    // the file store.
    const last = new Map<string, number>();
    for (const [i, op] of ops.entries()) {
      last.delete(op.key);
      last.set(op.key, i);
    }
    return [...last.values()].map((i): IRequestOp => {
      const op = ops[i] as StoreOp;
      if (op.kind === 'delete') return { request_delete_range: { key: this.k(op.key) } };
      return { request_put: { key: this.k(op.key), value: Buffer.from(json[i] as string) } };
    });
  }

  // ---- logs: one key per record under <prefix>logs/<log>/, the seq zero-padded so keys sort by it

  private logKey(log: LogName, seq: number): Buffer {
    return Buffer.from(`${this.opts.prefix}logs/${log}/${String(seq).padStart(16, '0')}`);
  }

  private logPrefix(log: LogName): Buffer {
    return Buffer.from(`${this.opts.prefix}logs/${log}/`);
  }

  /**
   * One transaction that creates every record's key, fenced like every write. It holds only if
   * the first key is new and the previous one exists, so two writers cannot both append.
   */
  append(log: LogName, records: readonly LogRecord[]): Promise<void> {
    const run = this.queue.then(async () => {
      if (records.length === 0) return;
      const { last } = await this.bounds(log);
      const problem = appendProblem(log, last, records);
      if (problem) throw new StoreError(problem);
      const first = records[0] as LogRecord;
      const compares: ICompare[] = [{ key: this.logKey(log, first.seq), target: 'Create', result: 'Equal', create_revision: 0 }];
      if (last > 0) compares.push({ key: this.logKey(log, last), target: 'Create', result: 'Greater', create_revision: 0 });
      const puts: IRequestOp[] = records.map((r) => {
        const json = JSON.stringify(r.value);
        if (json === undefined) throw new TypeError(`${log} record ${r.seq} is not JSON data`);
        return { request_put: { key: this.logKey(log, r.seq), value: Buffer.from(json) } };
      });
      const fence = this.fenceNow();
      const id = randomUUID();
      const inner = { compare: compares, success: [...puts, { request_put: { key: this.marker, value: Buffer.from(id), ...(fence ? { lease: fence.leaseId } : {}) } }], failure: [] };
      const send = () =>
        fence
          ? this.opts.client.kv.txn({ compare: [{ key: fence.key, target: 'Create', result: 'Equal', create_revision: fence.term }], success: [{ request_txn: inner }], failure: [] })
          : this.opts.client.kv.txn(inner);
      const appliedEarlier = async (): Promise<ITxnResponse | undefined> => {
        const kv = (await this.opts.client.kv.range({ key: this.marker })).kvs[0];
        if (kv?.value.toString() !== id) return undefined;
        const ok = { succeeded: true, responses: [] } as unknown as ITxnResponse;
        return fence ? ({ succeeded: true, responses: [{ response_txn: ok }] } as unknown as ITxnResponse) : ok;
      };
      const res = await this.call(`append to the ${log} log`, send, appliedEarlier);
      if (fence && !res.succeeded) {
        this.opts.onFenceLost?.(fence.term);
        throw new StoreError(`leadership term ${fence.term} is over (another coordinator took over): append refused`);
      }
      const inside = fence ? res.responses[0]!.response_txn : res;
      if (!inside.succeeded) throw new StoreError(`${log} log: another writer appended at seq ${first.seq}`);
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  async read<T = unknown>(log: LogName, afterSeq: number, limit: number): Promise<Array<LogRecord<T>>> {
    if (limit <= 0) return [];
    const start = this.logKey(log, afterSeq + 1);
    const res = await this.call(`read the ${log} log`, () =>
      this.opts.client.kv.range({ key: start, range_end: prefixEnd(this.logPrefix(log)), limit, sort_target: 'Key', sort_order: 'Ascend' }),
    );
    return res.kvs.map((kv) => ({ seq: Number(kv.key.toString().slice(this.logPrefix(log).length)), value: JSON.parse(kv.value.toString()) as T }));
  }

  async bounds(log: LogName): Promise<LogBounds> {
    const p = this.logPrefix(log);
    const edge = async (order: 'Ascend' | 'Descend') => {
      const res = await this.call(`read the ${log} log`, () => this.opts.client.kv.range({ key: p, range_end: prefixEnd(p), limit: 1, keys_only: true, sort_target: 'Key', sort_order: order }));
      const kv = res.kvs[0];
      return kv ? Number(kv.key.toString().slice(p.length)) : 0;
    };
    return { first: await edge('Ascend'), last: await edge('Descend') };
  }

  trim(log: LogName, throughSeq: number): Promise<void> {
    const run = this.queue.then(async () => {
      const { last } = await this.bounds(log);
      // The last record always stays: it carries the log's sequence to the next leader.
      const through = Math.min(throughSeq, last - 1);
      if (through <= 0) return;
      const fence = this.fenceNow();
      const del: IRequestOp = { request_delete_range: { key: this.logPrefix(log), range_end: this.logKey(log, through + 1) } };
      await this.call(`trim the ${log} log`, () =>
        fence
          ? this.opts.client.kv.txn({ compare: [{ key: fence.key, target: 'Create', result: 'Equal', create_revision: fence.term }], success: [del], failure: [] })
          : this.opts.client.kv.txn({ compare: [], success: [del], failure: [] }),
      );
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
