// Loaded into the coordinator for a measurement of its store (`bench:scale --coordinator-node-flags
// "--import test/dist/bench/store-probe.js" --coordinator-env LBHA_STORE_PROBE_OUT=FILE,...`): times
// every call of the file store's txn, append and trim from call to resolve, and every
// CoordinatorState.nextDesiredVersion (a reconcile pass waits for it; near 0 unless it waits for
// the store), and appends, once a second, one JSON line of that second's times in ms to
// LBHA_STORE_PROBE_OUT. LBHA_STORE_PROBE_SRC names the build's dist/src directory (default: this
// checkout's), so that the coordinator of another build can be measured the same way.
import { appendFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const out = process.env['LBHA_STORE_PROBE_OUT'];
if (isMainThread && out !== undefined && out !== '') {
  const src = process.env['LBHA_STORE_PROBE_SRC'];
  const base = src ? new URL(`file://${src.endsWith('/') ? src : `${src}/`}`).href : new URL('./', import.meta.resolve('@lbha/coordinator')).href;
  type Proto = Record<string, (...args: unknown[]) => Promise<unknown>>;
  const { FileStore } = (await import(new URL('store/file-store.js', base).href)) as { FileStore: { prototype: Proto } };
  const { CoordinatorState } = (await import(new URL('store/coordinator-state.js', base).href)) as { CoordinatorState: { prototype: Proto } };
  let second: Record<string, number[]> = { txn: [], append: [], trim: [], version: [] };
  const wrap = (proto: Proto, method: string, kind: string): void => {
    const orig = proto[method] as (...args: unknown[]) => Promise<unknown>;
    proto[method] = function (this: unknown, ...args: unknown[]) {
      const t0 = performance.now();
      return orig.apply(this, args).finally(() => second[kind]?.push(Math.round((performance.now() - t0) * 100) / 100));
    };
  };
  wrap(FileStore.prototype, 'txn', 'txn');
  wrap(FileStore.prototype, 'append', 'append');
  wrap(FileStore.prototype, 'trim', 'trim');
  wrap(CoordinatorState.prototype, 'nextDesiredVersion', 'version');
  setInterval(() => {
    appendFileSync(out, `${JSON.stringify({ t: Date.now(), ...second })}\n`);
    second = { txn: [], append: [], trim: [], version: [] };
  }, 1000).unref();
}
