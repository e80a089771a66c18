// The applied spec in the store. A spec of 20,000 VIPs is about 3 MB of YAML, and etcd refuses a
// request over its --max-request-bytes (1.5 MiB by default), so a spec too large for one write
// is stored in pieces under a generation of its own and switched to with one small key:
//
//   spec                          the head: version, who applied it, and the text itself when
//                                 it is small, else its generation, piece count, size and hash
//   spec-pieces/<gen>/<nnnn>      one piece of the text (a JSON string)
//   spec-pending/<gen>            a generation being written, until the head names it
//
// The pieces are written first (several transactions), then one transaction compares the head
// with the one read, puts the new head and deletes the old generation's pieces and the pending
// mark. Readers follow the head, so they see a whole generation or the previous one; a crash
// before the switch leaves the old head and its pieces intact, and the pending mark lets the
// next write delete the orphaned pieces.
import { createHash, randomUUID } from 'node:crypto';
import { StoreError } from '../errors.js';
import { del, put, type Store, type StoreOp } from './store.js';

export interface SpecRecord {
  readonly yaml: string;
  readonly version: number;
  readonly appliedMs: number;
  readonly actor: string;
  readonly reason: string;
}

export type SpecPutResult = { readonly ok: true; readonly record: SpecRecord } | { readonly ok: false; readonly currentVersion: number };

/** Where the pieces of a spec stored in pieces are. */
interface Pieces {
  readonly generation: string;
  readonly count: number;
  /** UTF-16 length of the whole text, and its SHA-256 (hex): a reader checks what it joined. */
  readonly length: number;
  readonly sha256: string;
}

/** The head: the text inline (as written before pieces existed, and for small specs), or where its pieces are. */
type SpecHead = Omit<SpecRecord, 'yaml'> & ({ readonly yaml: string } | { readonly pieces: Pieces });

const HEAD = 'spec';
const PIECES = 'spec-pieces/';
const PENDING = 'spec-pending/';
/** Reads retried when the head moved while its pieces were read (a write switched meanwhile). */
const READ_ATTEMPTS = 5;

const pieceKey = (generation: string, i: number): string => `${PIECES}${generation}/${String(i).padStart(4, '0')}`;
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const jsonBytes = (v: unknown): number => Buffer.byteLength(JSON.stringify(v));

/** The spec record of a store: read whole, written whole or not at all. */
export class SpecStorage {
  /** Characters per piece: six bytes of JSON each at worst (a control character) stays under the limit. */
  private readonly pieceChars: number;
  /** Bytes of JSON one transaction writes at most: half the store's limit leaves room for keys and framing. */
  private readonly batchBytes: number;

  /** Writes of this process run one at a time: one write's orphan cleanup must not take another's pieces. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly store: Store) {
    this.batchBytes = Math.floor(store.valueLimit / 2);
    this.pieceChars = Math.max(1024, Math.floor(store.valueLimit / 8));
  }

  async get(): Promise<SpecRecord | undefined> {
    for (let attempt = 1; ; attempt++) {
      const head = await this.store.get<SpecHead>(HEAD);
      if (!head) return undefined;
      const h = head.value;
      if ('yaml' in h) return h;
      const { pieces, ...meta } = h;
      const texts = await Promise.all(Array.from({ length: pieces.count }, (_, i) => this.store.get<string>(pieceKey(pieces.generation, i))));
      const yaml = texts.every((t) => typeof t?.value === 'string') ? texts.map((t) => t?.value).join('') : undefined;
      if (yaml !== undefined && yaml.length === pieces.length && sha256(yaml) === pieces.sha256) return { ...meta, yaml };
      // A write switched generations between reading the head and its pieces: read the new one.
      const now = await this.store.get<SpecHead>(HEAD);
      if (now?.revision !== head.revision && attempt < READ_ATTEMPTS) continue;
      throw new StoreError(`the stored spec v${h.version} is incomplete: its pieces (generation ${pieces.generation}) are missing or do not match its hash`);
    }
  }

  /**
   * Stores a new spec version. Refused (nothing written, or only pieces nobody reads, deleted
   * again) when `expectedVersion` is not 0 and differs from the stored version, or when another
   * writer changed the spec since it was read.
   */
  put(yaml: string, expectedVersion: number, actor: string, reason: string, nowMs: number): Promise<SpecPutResult> {
    const run = this.queue.then(() => this.write(yaml, expectedVersion, actor, reason, nowMs));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async write(yaml: string, expectedVersion: number, actor: string, reason: string, nowMs: number): Promise<SpecPutResult> {
    const current = await this.store.get<SpecHead>(HEAD);
    const currentVersion = current?.value.version ?? 0;
    if (expectedVersion !== 0 && expectedVersion !== currentVersion) return { ok: false, currentVersion };
    const record: SpecRecord = { yaml, version: currentVersion + 1, appliedMs: nowMs, actor, reason };
    const old = current && 'pieces' in current.value ? current.value.pieces : undefined;
    await this.dropOrphans(old?.generation);
    const cmp = [{ key: HEAD, revision: current?.revision ?? 0 }];
    const dropOld = old ? this.pieceDeletes(old.generation, old.count) : [];
    if (jsonBytes(record) <= this.batchBytes) {
      const r = await this.store.txn(cmp, [put(HEAD, record), ...dropOld]);
      return r.ok ? { ok: true, record } : this.refused();
    }
    const generation = `${record.version}-${randomUUID()}`;
    const texts: string[] = [];
    for (let at = 0; at < yaml.length; at += this.pieceChars) texts.push(yaml.slice(at, at + this.pieceChars));
    const pendingKey = `${PENDING}${generation}`;
    // The pending mark goes first, so a crash after any piece leaves a way to find them. Every
    // later step also holds only while the mark is there: whoever deleted it took the pieces.
    const marked = await this.store.txn([...cmp, { key: pendingKey, revision: 0 }], [put(pendingKey, { count: texts.length })]);
    if (!marked.ok) return this.refused();
    const guard = [...cmp, { key: pendingKey, revision: marked.revision }];
    for (const batch of this.batches(generation, texts)) {
      if (!(await this.store.txn(guard, batch)).ok) return this.abandon(generation, texts.length);
    }
    const head: SpecHead = { version: record.version, appliedMs: nowMs, actor, reason, pieces: { generation, count: texts.length, length: yaml.length, sha256: sha256(yaml) } };
    const r = await this.store.txn(guard, [put(HEAD, head), del(pendingKey), ...dropOld]);
    return r.ok ? { ok: true, record } : this.abandon(generation, texts.length);
  }

  /** Puts of the pieces, grouped so that no transaction writes more than batchBytes of JSON. */
  private batches(generation: string, texts: readonly string[]): StoreOp[][] {
    const out: StoreOp[][] = [];
    let batch: StoreOp[] = [];
    let bytes = 0;
    texts.forEach((text, i) => {
      const size = jsonBytes(text);
      if (batch.length > 0 && bytes + size > this.batchBytes) {
        out.push(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(put(pieceKey(generation, i), text));
      bytes += size;
    });
    if (batch.length > 0) out.push(batch);
    return out;
  }

  private pieceDeletes(generation: string, count: number): StoreOp[] {
    return Array.from({ length: count }, (_, i) => del(pieceKey(generation, i)));
  }

  private async refused(): Promise<SpecPutResult> {
    return { ok: false, currentVersion: (await this.store.get<SpecHead>(HEAD))?.value.version ?? 0 };
  }

  /** Another writer won: this write's pieces go again (its pending mark too). */
  private async abandon(generation: string, count: number): Promise<SpecPutResult> {
    await this.store.txn([], [...this.pieceDeletes(generation, count), del(`${PENDING}${generation}`)]);
    return this.refused();
  }

  /** Deletes the pieces of writes that never switched the head (a crash, a lost leadership). */
  private async dropOrphans(headGeneration: string | undefined): Promise<void> {
    for (const p of await this.store.list<{ count: number }>(PENDING)) {
      const generation = p.key.slice(PENDING.length);
      if (generation === headGeneration) continue;
      await this.store.txn([{ key: p.key, revision: p.revision }], [...this.pieceDeletes(generation, p.value.count), del(p.key)]);
    }
  }
}
