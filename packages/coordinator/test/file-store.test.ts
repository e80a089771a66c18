// The file store's layout on disk: a snapshot and a write-ahead log of transactions, logs in
// sealed files, compaction, the previous layout's migration, and crashes at chosen points.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createLogger } from '@lbha/shared';
import { StoreError } from '../src/errors.js';
import { FileStore, type FileStoreObserver, type FileStoreStep } from '../src/store/file-store.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { del, put, type LogRecord, type StoreOp } from '../src/store/store.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lbha-file-store-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
const fresh = () => join(dir, `s${++n}`, 'state.json');
const files = async (path: string) => (await readdir(dirname(path))).sort();
const walFiles = async (path: string) => (await files(path)).filter((f) => /^state\.json\.wal\.\d+\.jsonl$/.test(f));
const recs = (from: number, count: number, pad = 0): LogRecord[] => Array.from({ length: count }, (_, i) => ({ seq: from + i, value: { n: from + i, pad: 'p'.repeat(pad) } }));

describe('FileStore: snapshot and write-ahead log', () => {
  it('appends one line per transaction instead of rewriting the state file', async () => {
    const path = fresh();
    const s = await FileStore.open(path, { fsync: false });
    await s.txn([], [put('a', 1)]);
    const snapshot = await readFile(path, 'utf8');
    await s.txn([], [put('b', { x: 'y' }), del('a')]);
    await s.txn([], [put('c', 3)]);
    assert.equal(await readFile(path, 'utf8'), snapshot, 'the snapshot is not rewritten by a transaction');
    const [wal] = await walFiles(path);
    const lines = (await readFile(join(dirname(path), wal as string), 'utf8')).split('\n').filter(Boolean);
    assert.deepEqual(
      lines.map((l) => JSON.parse(l) as unknown),
      [
        { rev: 1, ops: [{ put: 'a', value: 1 }] },
        { rev: 2, ops: [{ put: 'b', value: { x: 'y' } }, { del: 'a' }] },
        { rev: 3, ops: [{ put: 'c', value: 3 }] },
      ],
    );
    // Not closed: a crash. The open replays the wal.
    const again = await FileStore.open(path, { fsync: false });
    assert.deepEqual(await again.list(''), [
      { key: 'b', value: { x: 'y' }, revision: 2 },
      { key: 'c', value: 3, revision: 3 },
    ]);
    assert.deepEqual(await walFiles(path), [], 'an open folds the wal into the snapshot');
    await again.txn([], [put('d', 4)]);
    await again.close();
    assert.deepEqual(await walFiles(path), [], 'a clean close folds the wal into the snapshot');
    const snap = JSON.parse(await readFile(path, 'utf8')) as { revision: number; entries: Array<{ key: string }> };
    assert.equal(snap.revision, 4);
    assert.deepEqual(
      snap.entries.map((e) => e.key),
      ['b', 'c', 'd'],
      'after a clean stop the snapshot alone holds the state',
    );
  });

  for (const [what, tail] of [
    ['a torn last line', '{"rev":3,"ops":[{"put":"x","val'],
    ['a whole last line without its newline', '{"rev":3,"ops":[{"put":"x","value":1}]}'],
  ] as const) {
    it(`drops ${what} of the wal (it never counted) and goes on after the last whole transaction`, async () => {
      const path = fresh();
      const s = await FileStore.open(path, { fsync: false });
      await s.txn([], [put('a', 1)]);
      await s.txn([], [put('b', 2)]);
      // Not closed: a crash.
      const [wal] = await walFiles(path);
      await appendFile(join(dirname(path), wal as string), tail);
      const again = await FileStore.open(path, { fsync: false });
      assert.equal(await again.get('x'), undefined);
      const r = await again.txn([], [put('c', 3)]);
      assert.equal(r.ok && r.revision, 3);
      await again.close();
      const third = await FileStore.open(path, { fsync: false });
      assert.deepEqual((await third.list('')).map((e) => [e.key, e.value, e.revision]), [
        ['a', 1, 1],
        ['b', 2, 2],
        ['c', 3, 3],
      ]);
      await third.close();
    });
  }

  it('refuses to start over a wal damaged before its last line, or with a gap in its revisions, and leaves it as it was', async () => {
    for (const damage of [(lines: string[]) => [lines[0]?.replace('"rev"', '"re'), ...lines.slice(1)], (lines: string[]) => lines.slice(1)]) {
      const path = fresh();
      const s = await FileStore.open(path, { fsync: false });
      for (let i = 0; i < 3; i++) await s.txn([], [put(`k${i}`, i)]);
      // Not closed: a crash.
      const wal = join(dirname(path), (await walFiles(path))[0] as string);
      const text = damage((await readFile(wal, 'utf8')).split('\n').filter(Boolean)).join('\n') + '\n';
      await writeFile(wal, text);
      await assert.rejects(FileStore.open(path, { fsync: false }), (err: unknown) => err instanceof StoreError && /damaged at byte 0|does not follow/.test(err.message));
      assert.equal(await readFile(wal, 'utf8'), text, 'nothing was changed');
      await assert.rejects(FileStore.open(path, { fsync: false }), StoreError, 'the lock was released: the same error again');
    }
  });

  it('compacts in the background once the wal is large: the wal stays bounded, and a reopen gives what every transaction wrote', async () => {
    const path = fresh();
    const s = await FileStore.open(path, { fsync: false, compactBytes: 3000 });
    const oracle = new MemoryStore();
    const pending: Array<Promise<unknown>> = [];
    for (let i = 0; i < 400; i++) {
      const ops: StoreOp[] = i % 5 === 4 ? [del(`k/${(i * 7) % 50}`)] : [put(`k/${i % 50}`, { i, pad: 'z'.repeat(i % 90) }), put('last', i)];
      // Many in flight at once: compactions start while other transactions wait.
      pending.push(s.txn([], ops), oracle.txn([], ops));
    }
    await Promise.all(pending);
    assert.ok((await walFiles(path)).length <= 2, `wal segments: ${(await walFiles(path)).join(', ')}`);
    await s.close();
    const again = await FileStore.open(path, { fsync: false });
    assert.deepEqual(await again.list(''), await oracle.list(''));
    const r = await again.txn([], [put('after', 1)]);
    assert.equal(r.ok && r.revision, 401);
    await again.close();
  });

  it('migrates the previous layout (one state file of format 1, one file per log) on start', async () => {
    const path = fresh();
    await mkdir(dirname(path), { recursive: true });
    // As the previous version wrote them.
    await writeFile(
      path,
      '{"format":1,"revision":7,"entries":[\n{"key":"spec","revision":3,"value":{"version":2,"yaml":"clusters: []\\n"}},\n{"key":"holders/web","revision":7,"value":{"10.0.0.1":"lb-a"}}\n]}\n',
    );
    await writeFile(`${path}.events.jsonl`, Array.from({ length: 5 }, (_, i) => `{"seq":${i + 11},"value":{"seq":${i + 11},"type":"vip_moved"}}\n`).join(''));
    const s = await FileStore.open(path, { fsync: false });
    assert.deepEqual(await s.get('holders/web'), { key: 'holders/web', value: { '10.0.0.1': 'lb-a' }, revision: 7 });
    assert.deepEqual(await s.bounds('events'), { first: 11, last: 15 });
    const snapshot = JSON.parse(await readFile(path, 'utf8')) as { format: number; revision: number };
    assert.equal(snapshot.format, 2, 'rewritten at once: the previous version refuses it instead of missing the wal');
    assert.equal(snapshot.revision, 7);
    const r = await s.txn([], [put('holders/web', { '10.0.0.1': 'lb-b' })]);
    assert.equal(r.ok && r.revision, 8);
    await s.append('events', recs(16, 1));
    await s.close();
    const again = await FileStore.open(path, { fsync: false });
    assert.deepEqual((await again.get('holders/web'))?.value, { '10.0.0.1': 'lb-b' });
    assert.deepEqual((await again.get('spec'))?.value, { version: 2, yaml: 'clusters: []\n' });
    assert.deepEqual((await again.read('events', 0, 100)).map((r) => r.seq), [11, 12, 13, 14, 15, 16]);
    await again.close();
  });

  it('seals full log files and trims by deleting the sealed ones before the trim point, exact across a reopen', async () => {
    const path = fresh();
    const s = await FileStore.open(path, { fsync: false, logSegmentBytes: 400 });
    for (let seq = 1; seq <= 100; seq += 5) await s.append('events', recs(seq, 5, 20));
    const sealed = (await files(path)).filter((f) => /^state\.json\.events\.\d+\.jsonl$/.test(f));
    assert.ok(sealed.length >= 5, `sealed files: ${sealed.join(', ')}`);
    const snapshot = await readFile(path, 'utf8');
    await s.trim('events', 63);
    assert.equal(await readFile(path, 'utf8'), snapshot, 'a trim rewrites no file');
    const left = (await files(path)).filter((f) => /^state\.json\.events\.\d+\.jsonl$/.test(f)).map((f) => Number(f.split('.')[3])).sort((a, b) => a - b);
    assert.ok(left.length < sealed.length, 'sealed files wholly before the trim point are deleted');
    assert.ok((left[0] ?? 0) < 64, `the file holding seq 64 is kept (${left.join(', ')})`);
    assert.deepEqual(await s.bounds('events'), { first: 64, last: 100 });
    await s.close();
    const again = await FileStore.open(path, { fsync: false, logSegmentBytes: 400 });
    assert.deepEqual(await again.bounds('events'), { first: 64, last: 100 });
    assert.deepEqual((await again.read('events', 0, 3)).map((r) => r.seq), [64, 65, 66]);
    await again.append('events', recs(101, 1));
    assert.deepEqual(await again.bounds('events'), { first: 64, last: 101 });
    await again.close();
  });
});

/** This process's open descriptors on files of `path`'s directory: file name -> descriptor numbers. */
async function openFiles(path: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (dirname(target) !== dirname(path)) continue;
    const name = target.slice(dirname(path).length + 1);
    out.set(name, [...(out.get(name) ?? []), fd]);
  }
  return out;
}

describe('FileStore: descriptors kept open between appends', () => {
  it('appends to a wal segment through one descriptor, and opens the next segment after a compaction', async () => {
    const path = fresh();
    const s = await FileStore.open(path, { fsync: false, compactBytes: 2000 });
    await s.txn([], [put('a', 1)]);
    const [wal] = await walFiles(path);
    const first = (await openFiles(path)).get(wal as string);
    assert.equal(first?.length, 1, 'the segment is open once');
    for (let i = 0; i < 5; i++) {
      await s.txn([], [put('a', i)]);
      assert.deepEqual((await openFiles(path)).get(wal as string), first, 'the same descriptor appends every line');
    }
    // Past compactBytes: the lines go to the next segment, and the old one is closed.
    for (let i = 0; !(await walFiles(path)).some((f) => f !== wal); i++) await s.txn([], [put('b', 'x'.repeat(100 + i))]);
    await s.txn([], [put('c', 1)]);
    const open = await openFiles(path);
    const walsOpen = [...open.keys()].filter((f) => f.includes('.wal.'));
    assert.equal(walsOpen.length, 1, `one wal segment open: ${walsOpen.join(', ')}`);
    assert.notEqual(walsOpen[0]?.replace(' (deleted)', ''), wal, 'the segment before the compaction is closed');
    await s.close();
    assert.deepEqual([...(await openFiles(path)).keys()], [], 'a close leaves no descriptor open');
    const again = await FileStore.open(path, { fsync: false });
    assert.deepEqual((await again.get('c'))?.value, 1);
    await again.close();
  });

  it("appends to a log's newest file through one descriptor, and closes it when the file is sealed", async () => {
    const path = fresh();
    const s = await FileStore.open(path, { fsync: false, logSegmentBytes: 400 });
    await s.append('events', recs(1, 1, 20));
    const newest = 'state.json.events.jsonl';
    const fd = (await openFiles(path)).get(newest);
    assert.equal(fd?.length, 1);
    for (let seq = 2; seq <= 4; seq++) {
      await s.append('events', recs(seq, 1, 20));
      assert.deepEqual((await openFiles(path)).get(newest), fd, 'the same descriptor appends every record');
    }
    for (let seq = 5; seq <= 40; seq += 3) await s.append('events', recs(seq, 3, 20));
    const sealed = (await files(path)).filter((f) => /^state\.json\.events\.\d+\.jsonl$/.test(f));
    assert.ok(sealed.length >= 2, `sealed: ${sealed.join(', ')}`);
    const open = await openFiles(path);
    for (const f of sealed) assert.equal(open.get(f), undefined, `${f} is closed once sealed`);
    assert.equal(open.get(newest)?.length, 1, 'the newest file is open again, once');
    await s.close();
    const again = await FileStore.open(path, { fsync: false, logSegmentBytes: 400 });
    assert.deepEqual((await again.read('events', 0, 100)).map((r) => r.seq), Array.from({ length: 40 }, (_, i) => i + 1));
    await again.close();
  });
});

describe('FileStore: a compaction that fails', () => {
  it('is logged and counted, keeps every write, and is tried again only after a back-off', async () => {
    const path = fresh();
    let now = 1000;
    const seen = { compacted: 0, failed: 0, writes: [] as number[] };
    const observer: FileStoreObserver = {
      transactionDurable: (seconds) => seen.writes.push(seconds),
      compacted: () => seen.compacted++,
      compactionFailed: () => seen.failed++,
    };
    const lines: Array<{ level: string; event?: string; path?: string; err?: { message: string }; retryInMs?: number }> = [];
    const logger = createLogger('test', {
      destination: new Writable({
        write(chunk: Buffer, _encoding, done) {
          for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as (typeof lines)[number]);
          done();
        },
      }),
    });
    const s = await FileStore.open(path, { fsync: false, compactBytes: 500, observer, logger, clock: () => now });
    // The snapshot's temporary file cannot be created: a directory has its name.
    await mkdir(`${path}.tmp`);
    const oracle = new MemoryStore();
    const write = async (i: number) => {
      const ops = [put(`k/${i % 5}`, { i, pad: 'p'.repeat(60) })];
      await s.txn([], ops);
      await oracle.txn([], ops);
    };
    const settled = async (what: () => boolean) => {
      for (let i = 0; i < 1000 && !what(); i++) await new Promise((r) => setTimeout(r, 5));
      assert.ok(what());
    };
    let i = 0;
    while (seen.failed === 0) {
      await write(i++);
      if (i > 50) await settled(() => seen.failed > 0);
    }
    await settled(() => lines.some((l) => l.event === 'store.compaction_failed'));
    const logged = lines.find((l) => l.event === 'store.compaction_failed');
    assert.equal(logged?.level, 'error');
    assert.equal(logged?.path, path);
    assert.match(logged?.err?.message ?? '', /EISDIR|directory/);
    assert.equal(logged?.retryInMs, 1000);
    assert.equal(seen.compacted, 0);

    // Within the back-off no compaction starts: the lines stay in one segment (the one the
    // failed compaction moved them to).
    await write(i++);
    const segments = await walFiles(path);
    assert.equal(segments.length, 2, `the failed compaction left the old segment: ${segments.join(', ')}`);
    for (let k = 0; k < 10; k++) await write(i++);
    now += 999;
    await write(i++);
    assert.deepEqual(await walFiles(path), segments, 'no compaction moved the lines to a new segment');
    assert.equal(seen.failed, 1);

    // Once it is over, the next transaction tries again (and fails again: the wait doubles).
    now += 1;
    await write(i++);
    await settled(() => seen.failed === 2);
    assert.equal(lines.filter((l) => l.event === 'store.compaction_failed').at(-1)?.retryInMs, 2000);

    // The disk is fine again: after the longer wait, one compaction takes every segment.
    await rm(`${path}.tmp`, { recursive: true });
    now += 1999;
    await write(i++);
    assert.equal(seen.compacted, 0, 'still waiting');
    now += 1;
    await write(i++);
    await settled(() => seen.compacted === 1);
    assert.equal(seen.failed, 2);
    assert.ok((await walFiles(path)).length <= 1, `segments left: ${(await walFiles(path)).join(', ')}`);
    assert.equal(seen.writes.length, i, 'every transaction reported its write');
    assert.ok(seen.writes.every((x) => x >= 0 && x < 60), 'durations in seconds');
    // Not closed: a crash. Every write is there.
    const again = await FileStore.open(path, { fsync: false });
    assert.deepEqual(await again.list(''), await oracle.list(''));
    await again.close();
  });
});

describe('FileStore: killed at chosen points', () => {
  const writer = fileURLToPath(new URL('./support/store-writer.js', import.meta.url));
  const steps: FileStoreStep[] = ['compaction-written', 'compaction-renamed', 'compaction-segment-removed', 'log-rotated', 'trim-recorded', 'transaction-appended'];

  for (const step of steps) {
    it(`recovers to a consistent state, with every acknowledged write, after SIGKILL at ${step}`, async () => {
      const path = fresh();
      // Twice: the second start recovers from the first crash, then crashes again.
      for (const nth of [3, 2]) {
        const child = spawn(process.execPath, [writer, path, step, String(nth)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let acked = 0;
        let ackedSeq = 0;
        let buf = '';
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          const lines = buf.split('\n');
          buf = lines.pop() ?? '';
          for (const l of lines) {
            if (l.startsWith('e')) ackedSeq = Math.max(ackedSeq, Number(l.slice(1)));
            else acked = Math.max(acked, Number(l));
          }
        });
        const signal = await new Promise<NodeJS.Signals | null>((resolve, reject) => {
          const deadline = setTimeout(() => {
            child.kill('SIGKILL');
            reject(new Error(`the writer did not reach ${step}`));
          }, 30_000);
          child.once('exit', (_code, sig) => {
            clearTimeout(deadline);
            resolve(sig);
          });
        });
        assert.equal(signal, 'SIGKILL', 'the writer killed itself at the step');
        assert.ok(acked > 0 && ackedSeq > 0, 'writes were acknowledged before the crash');

        const store = await FileStore.open(path, { fsync: false });
        const last = await store.get<number>('last');
        assert.ok(last && last.revision >= acked, `revision ${last?.revision} lost acknowledged write ${acked}`);
        for (const e of await store.list<{ i: number; pad: string }>('k/')) {
          assert.equal(e.value.i % 7, Number(e.key.slice(2)), `${e.key} holds a value written to it`);
          assert.equal(e.value.pad.length, (e.value.i * 997) % 5000, `${e.key} is whole`);
        }
        const { first, last: lastSeq } = await store.bounds('events');
        assert.ok(lastSeq >= ackedSeq, `events end at ${lastSeq}, lost acknowledged ${ackedSeq}`);
        const seqs = (await store.read('events', 0, 1_000_000)).map((r) => r.seq);
        assert.equal(seqs[0], first);
        assert.deepEqual(seqs, Array.from({ length: lastSeq - first + 1 }, (_, i) => first + i), 'the events are whole and in order');
        await store.close();
      }
    });
  }
});
