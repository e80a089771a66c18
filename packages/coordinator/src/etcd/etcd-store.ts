// The coordinator store on etcd: the same get/list/txn port as the file store, so node modes,
// drains, operations, the command journal and the spec live in etcd, shared by every
// coordinator. A store revision is etcd's mod_revision (global, increasing, never reused), so
// compare-and-swap maps one to one onto etcd transaction compares. Writes are fenced: each is
// nested in an outer transaction that holds only while this coordinator's leader key is the
// one it created, so a deposed leader's late write is refused by etcd itself.
import type { Etcd3, ICompare, IKeyValue, IRequestOp, ITxnResponse } from 'etcd3';
import { StoreError } from '../errors.js';
import type { Store, StoreCompare, StoreEntry, StoreOp, TxnResult } from '../store/store.js';
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

export class EtcdStore implements Store {
  private readonly dataPrefix: string;
  private closed = false;

  constructor(private readonly opts: EtcdStoreOptions) {
    this.dataPrefix = `${opts.prefix}data/`;
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

  /** Runs one etcd request, turning failures into StoreError and feeding the health status. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreError('etcd store is closed');
    try {
      const r = await fn();
      this.opts.health?.succeeded();
      return r;
    } catch (cause) {
      if (cause instanceof StoreError) throw cause;
      this.opts.health?.failed(cause);
      throw new StoreError(`etcd ${what} failed: ${(cause as Error).message}`, { cause });
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

  async txn(compares: readonly StoreCompare[], ops: readonly StoreOp[]): Promise<TxnResult> {
    const fence = this.opts.fence ? this.opts.fence() : undefined;
    if (this.opts.fence && !fence) throw new StoreError('this coordinator is not the leader: write refused');
    const inner = {
      compare: compares.map((c): ICompare =>
        c.revision === 0
          ? { key: this.k(c.key), target: 'Create', result: 'Equal', create_revision: 0 }
          : { key: this.k(c.key), target: 'Mod', result: 'Equal', mod_revision: c.revision },
      ),
      success: this.requestOps(ops),
      failure: compares.map((c): IRequestOp => ({ request_range: { key: this.k(c.key), keys_only: true } })),
    };
    const res = await this.call('transaction', () =>
      fence
        ? this.opts.client.kv.txn({
            compare: [{ key: fence.key, target: 'Create', result: 'Equal', create_revision: fence.term }],
            success: [{ request_txn: inner }],
            failure: [],
          })
        : this.opts.client.kv.txn(inner),
    );
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

  private requestOps(ops: readonly StoreOp[]): IRequestOp[] {
    // etcd refuses a transaction that touches one key twice; the last op on a key wins, as in
    // the file store.
    const last = new Map<string, StoreOp>();
    for (const op of ops) {
      last.delete(op.key);
      last.set(op.key, op);
    }
    return [...last.values()].map((op): IRequestOp => {
      if (op.kind === 'delete') return { request_delete_range: { key: this.k(op.key) } };
      const json = JSON.stringify(op.value);
      if (json === undefined) throw new TypeError(`store value for ${op.key} is not JSON data`);
      return { request_put: { key: this.k(op.key), value: Buffer.from(json) } };
    });
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
