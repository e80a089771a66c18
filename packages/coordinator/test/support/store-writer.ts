// Child process for the crash-safety tests: writes to a file store as fast as it can and prints
// each revision once its transaction has resolved (i.e. is durable), until it is killed.
//
// Usage: store-writer PATH [STEP N [COMPACT_BYTES]]
// With STEP, also appends to the events log (printing "e<seq>" once durable) and trims it, with
// small compaction and log-file thresholds, and kills itself with SIGKILL the Nth time the store
// reaches STEP (a FileStoreStep): a crash at a chosen point of a compaction, rotation or trim.
import { FileStore, type FileStoreStep } from '../../src/store/file-store.js';
import { put } from '../../src/store/store.js';

const [path, step, nth, compactBytes] = process.argv.slice(2);
if (!path) throw new Error('usage: store-writer PATH [STEP N [COMPACT_BYTES]]');
let reached = 0;
const store = await FileStore.open(path, {
  ...(step
    ? {
        compactBytes: Number(compactBytes ?? 20_000),
        logSegmentBytes: 4000,
        onStep: (s: FileStoreStep) => {
          if (s === step && ++reached === Number(nth ?? 1)) process.kill(process.pid, 'SIGKILL');
        },
      }
    : {}),
});
let seq = (await store.bounds('events')).last;
for (let i = 0; ; i++) {
  // Values of varying size, so a torn write would show up as broken JSON.
  const r = await store.txn([], [put(`k/${i % 7}`, { i, pad: 'x'.repeat((i * 997) % 5000) }), put('last', i)]);
  if (r.ok) process.stdout.write(`${r.revision}\n`);
  if (step) {
    const records = Array.from({ length: 5 }, () => ({ seq: ++seq, value: { seq, text: 'y'.repeat(seq % 300) } }));
    await store.append('events', records);
    process.stdout.write(`e${seq}\n`);
    if (seq % 50 === 0) await store.trim('events', seq - 100);
  }
}
