import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { StoreError } from '../src/errors.js';
import { CoordinatorState } from '../src/store/coordinator-state.js';
import { FileStore } from '../src/store/file-store.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { del, put, type Store } from '../src/store/store.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lbha-store-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A store whose transactions wait while it is held (a slow disk, a store busy with other writes). */
class HeldStore extends MemoryStore {
  /** Transactions that arrived while held. */
  held = 0;
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  release(): void {
    this.open?.();
    this.gate = undefined;
  }

  override async txn(...args: Parameters<MemoryStore['txn']>): ReturnType<MemoryStore['txn']> {
    if (this.gate) {
      this.held++;
      await this.gate;
    }
    return super.txn(...args);
  }
}

/** Resolves once everything that can run without I/O or timers has run. */
const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A promise's value once it has resolved (undefined until then). */
function watch<T>(p: Promise<T>): { value: T | undefined } {
  const w: { value: T | undefined } = { value: undefined };
  void p.then((v) => (w.value = v));
  return w;
}

let n = 0;
const fresh = () => join(dir, `s${++n}`, 'state.json');

const implementations: Array<[string, () => Promise<Store>]> = [
  ['MemoryStore', async () => new MemoryStore()],
  ['FileStore', async () => FileStore.open(fresh(), { fsync: false })],
];

for (const [name, make] of implementations) {
  describe(`${name}: store semantics`, () => {
    it('puts, gets and lists with revisions', async () => {
      const s = await make();
      const r1 = await s.txn([], [put('a/1', { x: 1 }), put('a/2', 'two'), put('b', [1, 2])]);
      assert.deepEqual(r1, { ok: true, revision: 1 });
      assert.deepEqual(await s.get('a/1'), { key: 'a/1', value: { x: 1 }, revision: 1 });
      assert.deepEqual((await s.list('a/')).map((e) => e.key), ['a/1', 'a/2']);
      const r2 = await s.txn([], [put('a/2', 'deux')]);
      assert.equal(r2.ok && r2.revision, 2);
      assert.equal((await s.get('a/2'))?.revision, 2);
      assert.equal((await s.get('a/1'))?.revision, 1);
      await s.txn([], [del('a/1')]);
      assert.equal(await s.get('a/1'), undefined);
      await s.close();
    });

    it('applies a transaction only when every compare holds, and then all of it', async () => {
      const s = await make();
      await s.txn([], [put('k', 1)]);
      const stale = await s.txn([{ key: 'k', revision: 0 }], [put('k', 2), put('other', 1)]);
      assert.deepEqual(stale, { ok: false, conflicts: ['k'] });
      assert.equal((await s.get('k'))?.value, 1);
      assert.equal(await s.get('other'), undefined);
      const fresh = await s.txn([{ key: 'k', revision: 1 }, { key: 'new', revision: 0 }], [put('k', 2), put('new', true)]);
      assert.equal(fresh.ok, true);
      assert.equal((await s.get('k'))?.value, 2);
      await s.close();
    });

    it('never lets a caller mutate stored values', async () => {
      const s = await make();
      const v = { list: [1] };
      await s.txn([], [put('v', v)]);
      v.list.push(2);
      const got = await s.get<{ list: number[] }>('v');
      got?.value.list.push(3);
      assert.deepEqual((await s.get('v'))?.value, { list: [1] });
      await s.close();
    });

    it('serializes concurrent compare-and-swap writers: exactly one wins', async () => {
      const s = await make();
      await s.txn([], [put('c', 0)]);
      const e = await s.get<number>('c');
      const results = await Promise.all([1, 2, 3].map((i) => s.txn([{ key: 'c', revision: e?.revision ?? 0 }], [put('c', i)])));
      assert.equal(results.filter((r) => r.ok).length, 1);
      await s.close();
    });
  });
}

describe('FileStore: durability', () => {
  it('keeps everything across close and reopen', async () => {
    const path = fresh();
    const s = await FileStore.open(path);
    await s.txn([], [put('a', { deep: { x: 'y' } }), put('b', 2)]);
    await s.txn([], [del('b')]);
    await s.close();
    const again = await FileStore.open(path);
    assert.deepEqual(await again.get('a'), { key: 'a', value: { deep: { x: 'y' } }, revision: 1 });
    assert.equal(await again.get('b'), undefined);
    const r = await again.txn([], [put('c', 3)]);
    assert.equal(r.ok && r.revision, 3, 'the revision counter survives a restart');
    await again.close();
  });

  it('ignores and removes a torn temporary file', async () => {
    const path = fresh();
    const s = await FileStore.open(path);
    await s.txn([], [put('a', 'good')]);
    await s.close();
    await writeFile(`${path}.tmp`, '{"format":1,"revision":9,"entries":[{"key":"a","rev');
    const again = await FileStore.open(path);
    assert.equal((await again.get('a'))?.value, 'good');
    await assert.rejects(readFile(`${path}.tmp`), /ENOENT/);
    await again.close();
  });

  it('refuses to start over a corrupt store file instead of silently emptying it', async () => {
    const path = fresh();
    const s = await FileStore.open(path);
    await s.txn([], [put('a', 1)]);
    await s.close();
    await writeFile(path, '{"format":1,"revision":1,"entr');
    await assert.rejects(FileStore.open(path), (err: unknown) => err instanceof StoreError && /not a valid store file/.test(err.message));
  });

  it('refuses a store held by another live process', async () => {
    const path = fresh();
    const s = await FileStore.open(path);
    await s.close();
    await writeFile(`${path}.lock`, `${process.ppid}\n`);
    await assert.rejects(FileStore.open(path), (err: unknown) => err instanceof StoreError && /in use by process/.test(err.message));
    await writeFile(`${path}.lock`, '999999999\n');
    const again = await FileStore.open(path);
    await again.close();
  });

  it('survives being killed mid-write: the file parses and no acknowledged write is lost', async () => {
    const writer = fileURLToPath(new URL('./support/store-writer.js', import.meta.url));
    for (let round = 0; round < 3; round++) {
      const path = fresh();
      const child = spawn(process.execPath, [writer, path], { stdio: ['ignore', 'pipe', 'inherit'] });
      let acked = 0;
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        for (const l of lines) acked = Math.max(acked, Number(l));
      });
      // Kill at a different point each round, once a few writes are known to be durable.
      await new Promise<void>((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error('writer made no progress')), 20_000);
        const poll = setInterval(() => {
          if (acked >= 20 + round * 37) {
            clearInterval(poll);
            clearTimeout(deadline);
            resolve();
          }
        }, 1);
      });
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      const store = await FileStore.open(path);
      const last = await store.get<number>('last');
      assert.ok(last, 'the store holds the written data');
      assert.ok(last.revision >= acked, `revision ${last.revision} lost acknowledged write ${acked}`);
      await store.close();
    }
  });
});

describe('CoordinatorState', () => {
  it('versions the spec and refuses a stale expected version', async () => {
    const state = new CoordinatorState(new MemoryStore());
    const a = await state.putSpec('clusters: []', 0, 'test', 'first', 1);
    assert.ok(a.ok);
    assert.equal(a.record.version, 1);
    const stale = await state.putSpec('clusters: []\n', 5, 'test', 'stale', 2);
    assert.deepEqual(stale, { ok: false, currentVersion: 1 });
    const b = await state.putSpec('clusters: []\n', 1, 'test', 'second', 3);
    assert.ok(b.ok);
    assert.equal((await state.getSpec())?.version, 2);
  });

  it('hands out desired-state versions that keep growing across restarts', async () => {
    const path = fresh();
    const s1 = await FileStore.open(path, { fsync: false });
    const st1 = new CoordinatorState(s1);
    const first = await Promise.all([1, 2, 3].map(() => st1.nextDesiredVersion()));
    assert.deepEqual(new Set(first).size, 3);
    await s1.close();
    const s2 = await FileStore.open(path, { fsync: false });
    const st2 = new CoordinatorState(s2);
    const after = await st2.nextDesiredVersion();
    assert.ok(after > Math.max(...first));
    await s2.close();
  });

  it('reserves the next block of desired-state versions ahead, so that taking one does not wait for a slow store', async () => {
    const store = new HeldStore();
    const state = new CoordinatorState(store);
    const taken = [await state.nextDesiredVersion()];
    // The store stops answering (a write of the whole state, a trim of the event log) while the
    // first block is half used: the next block's reservation waits, taking versions does not.
    store.hold();
    const firstHalf = Array.from({ length: 599 }, () => state.nextDesiredVersion());
    await settled();
    assert.equal(store.held, 1, 'the next block is asked for once half of the first one is used');
    store.release();
    taken.push(...(await Promise.all(firstHalf)));
    await settled();
    // Slow again: the versions past the first block's end come from the block reserved ahead.
    store.hold();
    const pending = Array.from({ length: 800 }, () => watch(state.nextDesiredVersion()));
    await settled();
    assert.equal(pending.filter((p) => p.value === undefined).length, 0, 'no version waited for the store');
    taken.push(...pending.map((p) => p.value as number));
    assert.deepEqual(taken, Array.from({ length: 1400 }, (_, i) => i + 1));
    store.release();
  });

  it('hands out no desired-state version twice when two coordinators reserve blocks in one store', async () => {
    const store = new MemoryStore();
    const a = new CoordinatorState(store);
    const b = new CoordinatorState(store);
    const seen = new Set<number>();
    let last = { a: 0, b: 0 };
    for (let i = 0; i < 2500; i++) {
      for (const [name, st] of [['a', a], ['b', b]] as const) {
        const v = await st.nextDesiredVersion();
        assert.ok(!seen.has(v), `version ${v} handed out twice`);
        assert.ok(v > last[name], `${name}: ${v} after ${last[name]}`);
        seen.add(v);
        last = { ...last, [name]: v };
      }
    }
  });

  it('prunes old finished operations but keeps running ones', async () => {
    const state = new CoordinatorState(new MemoryStore());
    const op = (i: number, finished: boolean) => ({
      id: `op-${i}`,
      kind: 'drain' as const,
      cluster: 'c',
      node: 'n',
      service: '',
      state: finished ? ('succeeded' as const) : ('running' as const),
      message: '',
      createdMs: i,
      updatedMs: i,
      deadlineMs: 0,
      steps: [],
      actor: 't',
      reason: '',
      force: false,
      timeoutMs: 0,
      activeConnections: 0,
      data: {},
    });
    await state.write({ operations: [op(0, false), ...Array.from({ length: 210 }, (_, i) => op(i + 1, true))] });
    await state.prune();
    const left = await state.operations();
    assert.equal(left.length, 201);
    assert.ok(left.some((o) => o.id === 'op-0'));
    assert.ok(!left.some((o) => o.id === 'op-1'));
  });
});
