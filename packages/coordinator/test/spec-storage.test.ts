// The spec in a store with a write limit (as etcd has): a spec over the limit goes in pieces and
// comes back whole; no transaction is over the limit (the memory store refuses one, as etcd
// would); a crash between pieces leaves the previous spec readable and its pieces intact; the
// next write removes what the crashed one left; of two writers at once exactly one wins.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StoreError } from '../src/errors.js';
import { CoordinatorState } from '../src/store/coordinator-state.js';
import { MemoryStore } from '../src/store/memory-store.js';
import type { Store } from '../src/store/store.js';
import { crashing } from './support/store-wrappers.js';

const LIMIT = 64 * 1024;

/** About `kb` KB of spec-like text, with what JSON escapes or UTF-8 widens, varied by `tag`. */
function text(kb: number, tag: string): string {
  const line = `      - { name: ${tag}-v\u00e9, address: 10.0.0.1/24, interface: eth1, vrid: 1 } # "quoted" \\ back\tslash \u2603\n`;
  const lines: string[] = [`# ${tag}\nclusters:\n`];
  for (let n = 0; n * line.length < kb * 1024; n++) lines.push(line.replace('-v', `-v${n}`));
  return lines.join('');
}

/** Keys of the store under `prefix`. */
async function keys(store: Store, prefix: string): Promise<string[]> {
  return (await store.list(prefix)).map((e) => e.key);
}

describe('spec storage under a write limit', () => {
  it('refuses a transaction over the limit, as etcd does, and writes nothing', async () => {
    const store = new MemoryStore(undefined, { valueLimit: LIMIT });
    await assert.rejects(store.txn([], [{ kind: 'put', key: 'big', value: 'x'.repeat(LIMIT) }]), (e: Error) => e instanceof StoreError && /over the store's limit of 65536 bytes/.test(e.message));
    assert.equal(await store.get('big'), undefined);
  });

  it('stores a small spec in the head and a large one in pieces, reads both back whole, and keeps no old pieces', async () => {
    const store = new MemoryStore(undefined, { valueLimit: LIMIT });
    const state = new CoordinatorState(store);
    const small = text(4, 'small');
    assert.ok((await state.putSpec(small, 0, 'a', 'one', 1)).ok);
    assert.equal((await state.getSpec())?.yaml, small);
    assert.deepEqual(await keys(store, 'spec'), ['spec'], 'a small spec is one key');

    const big = text(400, 'big');
    const r = await state.putSpec(big, 1, 'b', 'two', 2);
    assert.ok(r.ok);
    assert.deepEqual(await state.getSpec(), { yaml: big, version: 2, appliedMs: 2, actor: 'b', reason: 'two' });
    const pieces = await keys(store, 'spec-pieces/');
    assert.ok(pieces.length >= 8, `${pieces.length} pieces`);
    assert.equal(new Set(pieces.map((k) => k.split('/')[1])).size, 1, 'one generation');

    const bigger = text(600, 'bigger');
    assert.ok((await state.putSpec(bigger, 2, 'c', 'three', 3)).ok);
    assert.equal((await state.getSpec())?.yaml, bigger);
    const now = await keys(store, 'spec-pieces/');
    assert.ok(now.every((k) => !pieces.includes(k)), "the old generation's pieces are gone");

    assert.ok((await state.putSpec(small, 3, 'd', 'four', 4)).ok);
    assert.equal((await state.getSpec())?.yaml, small);
    assert.deepEqual(await keys(store, 'spec'), ['spec'], 'back to one key');
    // A second reader (another coordinator) reads the same.
    assert.equal((await new CoordinatorState(store).getSpec())?.version, 4);
  });

  for (const crashAfter of [0, 1, 3]) {
    it(`keeps the previous spec whole when the writer dies after ${crashAfter} of its transactions, and the next write clears what it left`, async () => {
      const store = new MemoryStore(undefined, { valueLimit: LIMIT });
      const before = text(300, 'before');
      assert.ok((await new CoordinatorState(store).putSpec(before, 0, 'a', 'old', 1)).ok);
      const oldPieces = await keys(store, 'spec-pieces/');
      await assert.rejects(new CoordinatorState(crashing(store, crashAfter)).putSpec(text(500, 'torn'), 1, 'b', 'new', 2), /crashed/);
      assert.deepEqual(await new CoordinatorState(store).getSpec(), { yaml: before, version: 1, appliedMs: 1, actor: 'a', reason: 'old' });
      assert.ok(oldPieces.length > 1, 'the spec before is in pieces');
      const left = await keys(store, 'spec-pieces/');
      assert.ok(oldPieces.every((k) => left.includes(k)), 'the old pieces are all there');

      const after = text(350, 'after');
      assert.ok((await new CoordinatorState(store).putSpec(after, 1, 'c', 'retry', 3)).ok);
      assert.equal((await new CoordinatorState(store).getSpec())?.yaml, after);
      const generations = new Set((await keys(store, 'spec-pieces/')).map((k) => k.split('/')[1]));
      assert.equal(generations.size, 1, 'only the new generation is left');
      assert.deepEqual(await keys(store, 'spec-pending/'), []);
    });
  }

  it('lets exactly one of two writers win; the loser leaves no pieces, and readers see a whole spec throughout', async () => {
    const store = new MemoryStore(undefined, { valueLimit: LIMIT });
    const base = text(200, 'base');
    assert.ok((await new CoordinatorState(store).putSpec(base, 0, 'x', 'base', 1)).ok);
    const a = text(300, 'alice');
    const b = text(450, 'bob');
    const seen = new Set<string>();
    let reading = true;
    const reader = (async () => {
      const r = new CoordinatorState(store);
      while (reading) {
        const s = await r.getSpec();
        seen.add(s?.yaml === base ? 'base' : s?.yaml === a ? 'alice' : s?.yaml === b ? 'bob' : 'torn');
        await new Promise((res) => setImmediate(res));
      }
    })();
    const [ra, rb] = await Promise.all([new CoordinatorState(store).putSpec(a, 1, 'alice', 'a', 2), new CoordinatorState(store).putSpec(b, 1, 'bob', 'b', 2)]);
    reading = false;
    await reader;
    assert.equal([ra, rb].filter((r) => r.ok).length, 1, 'exactly one wins');
    const winner = ra.ok ? a : b;
    assert.equal((await new CoordinatorState(store).getSpec())?.yaml, winner);
    assert.ok(!seen.has('torn'), `a reader saw ${[...seen].join(', ')}`);
    assert.equal(new Set((await keys(store, 'spec-pieces/')).map((k) => k.split('/')[1])).size, 1);
    assert.deepEqual(await keys(store, 'spec-pending/'), []);
  });

  it('says which spec is incomplete when its pieces are gone', async () => {
    const store = new MemoryStore(undefined, { valueLimit: LIMIT });
    assert.ok((await new CoordinatorState(store).putSpec(text(200, 'x'), 0, 'a', 'r', 1)).ok);
    const [first] = await keys(store, 'spec-pieces/');
    await store.txn([], [{ kind: 'delete', key: first! }]);
    await assert.rejects(new CoordinatorState(store).getSpec(), (e: Error) => e instanceof StoreError && /stored spec v1 is incomplete/.test(e.message));
  });
});
