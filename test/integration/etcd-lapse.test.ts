// A leader whose local deadline passes while etcd still holds its lease (the process waited
// for a CPU) is deposed by its own clock, and leads again in the same term at its next
// renewal: nobody else can have led meanwhile. Its duties (the control plane) are held through
// such a lapse, fenced, and resumed, not stopped and rebuilt; when the lapse is a real loss
// (the lease expires, another coordinator leads), they are stopped. Real etcd on loopback.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '@lbha/shared';
import { EtcdCoordination, Registry, storeConfigSchema, type EtcdStoreConfig, type LeaderDuties } from '@lbha/coordinator';
import { eventually } from '@lbha/test-support';
import { EtcdCluster, etcdUnavailableReason } from '../support/etcd-cluster.js';

const skip = etcdUnavailableReason();
const logger = createLogger('etcd-lapse-test', { level: process.env['LBHA_TEST_LOG'] ?? 'silent' });
const LEASE_TTL_MS = 3000;

interface Subject {
  readonly coordination: EtcdCoordination;
  readonly calls: string[];
  skewMs: number;
}

describe('a leader whose lease outlives its local deadline', { skip }, () => {
  let cluster: EtcdCluster;
  let round = 0;
  const subjects: Subject[] = [];

  function subject(id: string, prefix: string): Subject {
    const config = storeConfigSchema.parse({ kind: 'etcd', endpoints: cluster.endpoints, prefix, leaseTtl: LEASE_TTL_MS, requestTimeout: 500 }) as EtcdStoreConfig;
    const s = { calls: [] as string[], skewMs: 0 } as Subject;
    const coordination = new EtcdCoordination({
      config,
      selfId: id,
      logger,
      registry: new Registry(5000),
      record: () => undefined,
      peerTls: { insecure: true },
      clock: () => performance.now() + s.skewMs,
      // The lapse here is one of the election's clock alone; the keeper's renewals are real ones.
      leaseKeeper: false,
    });
    const duties: LeaderDuties = {
      start: async (_store, term) => void s.calls.push(`start ${term}`),
      stop: async () => void s.calls.push('stop'),
      resume: (term) => void s.calls.push(`resume ${term}`),
    };
    coordination.start({ id, grpc: `127.0.0.1:${2000 + subjects.length}`, http: '' }, duties);
    Object.assign(s, { coordination });
    subjects.push(s);
    return s;
  }

  before(async () => {
    cluster = await EtcdCluster.start({ members: 1 });
  });
  after(async () => {
    await Promise.all(subjects.map((s) => s.coordination.stop().catch(() => undefined)));
    await cluster?.stop();
  });

  it('resumes its duties, without stopping them, when it leads again in the same term', async () => {
    const prefix = `/lapse-${++round}/`;
    const a = subject('a', prefix);
    await eventually(() => a.calls.length === 1, 'duties started');
    const term = a.coordination.leadership.fence()!.term;
    assert.deepEqual(a.calls, [`start ${term}`]);
    // The process "waited for a CPU" past its local deadline: it deposes itself at once.
    a.skewMs = LEASE_TTL_MS;
    assert.equal(a.coordination.leadership.isLeader(), false);
    // etcd still holds the lease: the next renewal finds the leader key its own, same term.
    await eventually(() => a.coordination.leadership.isLeader(), 'leads again', 5000);
    assert.equal(a.coordination.leadership.fence()?.term, term, 'the same term');
    await eventually(() => a.calls.length === 2, 'duties resumed');
    assert.deepEqual(a.calls, [`start ${term}`, `resume ${term}`]);
    await a.coordination.stop();
    assert.deepEqual(a.calls, [`start ${term}`, `resume ${term}`, 'stop']);
  });

  it('stops its duties when another coordinator leads', async () => {
    const prefix = `/lapse-${++round}/`;
    const a = subject('a', prefix);
    await eventually(() => a.calls.length === 1, 'duties started');
    const b = subject('b', prefix);
    await eventually(() => b.coordination.leadership.leader()?.id === 'a', 'b sees a lead');
    // a stops renewing for good (its etcd client closed) and deposes itself: b takes over once
    // etcd expires a's lease, and a's held duties must stop.
    (a.coordination as unknown as { client: { close(): void } }).client.close();
    a.skewMs = LEASE_TTL_MS;
    assert.equal(a.coordination.leadership.isLeader(), false);
    await eventually(() => b.coordination.leadership.isLeader(), 'b leads', 10_000);
    await eventually(() => a.calls.at(-1) === 'stop', 'a stopped its duties', 5000);
    assert.equal(a.calls.filter((c) => c.startsWith('start')).length, 1);
    assert.ok(!a.calls.some((c) => c.startsWith('resume')));
    await eventually(() => b.calls.length === 1, 'b started its duties');
  });
});
