// Entry point of the lease keeper's worker thread (lease-keeper.ts): renews the coordinator's
// etcd lease on a timer and a connection of its own, as long as the main thread's event loop
// shows it is turning, and reports each renewal etcd answered in the shared memory.
import { parentPort, workerData } from 'node:worker_threads';
import { createEtcdClient } from './etcd-client.js';
import { keepaliveOnce } from './lease-keepalive.js';
import { BEAT_US, LEASE, monotonicUs, RENEWED_LEASE, RENEWED_SENT_US, RENEWED_TTL_S, SEQ, type LeaseKeeperWorkerData } from './lease-keeper-shared.js';

/** What the worker tells the main thread (logged there). */
export type LeaseKeeperMessage =
  | { readonly type: 'renewal_failed'; readonly err: string }
  | { readonly type: 'renewals_stopped'; readonly loopSilentMs: number }
  | { readonly type: 'renewals_resumed'; readonly loopSilentMs: number }
  | { readonly type: 'renewal_late'; readonly lateMs: number };

const data = workerData as LeaseKeeperWorkerData;
const cells = new BigInt64Array(data.shared);
const client = createEtcdClient({
  endpoints: [...data.endpoints],
  requestTimeout: data.requestTimeoutMs,
  leaseTtl: data.leaseTtlMs,
  ...(data.tls ? { tls: data.tls } : {}),
});
const stallLimitUs = BigInt(data.stallLimitMs * 1000);
let stopped = false;
let holding = true;
let timer: NodeJS.Timeout | undefined;

const tell = (m: LeaseKeeperMessage): void => parentPort?.postMessage(m);

parentPort?.on('message', (m: unknown) => {
  if (m !== 'stop') return;
  stopped = true;
  if (timer) clearTimeout(timer);
  client.close();
  parentPort?.close();
});

async function renew(due: bigint): Promise<void> {
  const sent = monotonicUs();
  const lateMs = Number(sent - due) / 1000;
  if (lateMs > 1000) tell({ type: 'renewal_late', lateMs: Math.round(lateMs) });
  const lease = Atomics.load(cells, LEASE);
  const silentUs = sent - Atomics.load(cells, BEAT_US);
  // A loop that has not run a timer for the stall limit cannot push: let the lease lapse, so
  // that another coordinator takes over a TTL later at most.
  if (silentUs > stallLimitUs) {
    if (holding) tell({ type: 'renewals_stopped', loopSilentMs: Math.round(Number(silentUs) / 1000) });
    holding = false;
    return;
  }
  if (!holding) tell({ type: 'renewals_resumed', loopSilentMs: Math.round(Number(silentUs) / 1000) });
  holding = true;
  if (lease === 0n) return;
  try {
    const ttl = await keepaliveOnce(client, lease.toString(), data.requestTimeoutMs);
    Atomics.add(cells, SEQ, 1n);
    Atomics.store(cells, RENEWED_LEASE, lease);
    Atomics.store(cells, RENEWED_SENT_US, sent);
    Atomics.store(cells, RENEWED_TTL_S, BigInt(Math.trunc(ttl)));
    Atomics.add(cells, SEQ, 1n);
  } catch (err) {
    if (!stopped) tell({ type: 'renewal_failed', err: (err as Error).message });
  }
}

// Each renewal is due a renewal interval after the previous one was due (not after its answer):
// a slow answer does not push the next one back.
function schedule(due: bigint): void {
  if (stopped) return;
  timer = setTimeout(() => {
    void renew(due).finally(() => schedule(due + BigInt(data.renewEveryMs * 1000) > monotonicUs() ? due + BigInt(data.renewEveryMs * 1000) : monotonicUs()));
  }, Math.max(0, Number(due - monotonicUs()) / 1000));
}

schedule(monotonicUs());
