// Child process for the crash-safety test: writes to a file store as fast as it can and prints
// each revision once its transaction has resolved (i.e. is durable), until it is killed.
import { FileStore } from '../../src/store/file-store.js';
import { put } from '../../src/store/store.js';

const path = process.argv[2];
if (!path) throw new Error('usage: store-writer PATH');
const store = await FileStore.open(path);
for (let i = 0; ; i++) {
  // Values of varying size, so a torn write would show up as broken JSON.
  const r = await store.txn([], [put(`k/${i % 7}`, { i, pad: 'x'.repeat((i * 997) % 5000) }), put('last', i)]);
  if (r.ok) process.stdout.write(`${r.revision}\n`);
}
