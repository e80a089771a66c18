// Several coordinators with mutual TLS: a follower relays agent streams and forwards API calls,
// and the leader still authorises each as its original caller (the agent's certificate, the
// operator's certificate or token), trusting the follower only because it holds a coordinator
// certificate.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { credentials, Metadata, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { clientCredentials } from '@lbha/shared';
import { ControlServiceClient, type pbControl } from '@lbha/shared/control';
import { eventually, sleep } from '@lbha/test-support';
import { EtcdCluster, etcdUnavailableReason } from '../support/etcd-cluster.js';
import { BIN, ROOT } from '../support/paths.js';
import { runNode, startNode, type Proc } from '../support/process.js';
import { coordinatorsStarted, stopCoordinatorSet, writeCoordinatorConfigs } from './etcd-coordinator-set.js';
import { FakeFleet } from './etcd-fake-fleet.js';

const skip = etcdUnavailableReason();
const DEV_CA = join(ROOT, 'packages/coordinator/dist/src/bin/lbha-dev-ca.js');

describe('several coordinators on etcd with mutual TLS', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-etcd-mtls-'));
  const pki = join(dir, 'pki');
  const token = randomBytes(16).toString('hex');
  let cluster: EtcdCluster;
  const coordinators: Array<{ id: string; grpc: string; proc: Proc }> = [];
  const fleet = new FakeFleet('web', ['lb1', 'lb2']);
  const tls = (who: string) => clientCredentials({ ca: join(pki, 'ca.crt'), cert: join(pki, `${who}.crt`), key: join(pki, `${who}.key`) });

  function listNodes(address: string, creds: ChannelCredentials, md = new Metadata()): Promise<pbControl.ListNodesResponse> {
    const client = new ControlServiceClient(address, creds);
    return new Promise((resolve, reject) =>
      client.listNodes({ cluster: '' }, md, { deadline: Date.now() + 5000 }, (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res);
      }),
    );
  }

  async function leaderId(): Promise<string> {
    return eventually(() => {
      const elected = coordinators.map((c) => ({ c, at: c.proc.lines.filter((l) => l.event === 'election.elected').length - c.proc.lines.filter((l) => l.event === 'election.deposed').length }));
      const leaders = elected.filter((e) => e.at > 0);
      return leaders.length === 1 ? leaders[0]!.c.id : undefined;
    }, 'one leader');
  }

  /** Every election and deposition so far, of all coordinators: changes whenever leadership does. */
  const leadershipChanges = (): number => coordinators.reduce((n, c) => n + c.proc.lines.filter((l) => l.event === 'election.elected' || l.event === 'election.deposed').length, 0);

  /**
   * Runs `attempt` with the leader and a follower of one term. These tests are about a follower
   * relaying to the leader: when leadership changed while an attempt ran (etcd's own election on a
   * loaded machine, a lease renewal that came too late), what it saw belongs to two leaders and it
   * runs again. A failure within one term is a failure.
   */
  async function inOneTerm(t: TestContext, attempt: (leader: string, follower: (typeof coordinators)[number]) => Promise<void>): Promise<void> {
    for (let i = 1; ; i++) {
      const leader = await leaderId();
      const before = leadershipChanges();
      const follower = coordinators.find((c) => c.id !== leader)!;
      let error: unknown;
      try {
        await attempt(leader, follower);
      } catch (e) {
        error = e;
      }
      if (leadershipChanges() === before) {
        if (error !== undefined) throw error;
        return;
      }
      t.diagnostic(`attempt ${i}: leadership changed while it ran (leader was ${leader})${error instanceof Error ? `: ${error.message}` : ''}`);
      if (i === 3) throw new Error(`leadership changed during each of ${i} attempts`, { cause: error });
    }
  }

  before(async () => {
    const ca = await runNode(DEV_CA, ['--out', pki, '--agent', 'lb1', '--agent', 'lb2', '--operator', 'alice']);
    assert.equal(ca.code, 0, ca.stderr);
    cluster = await EtcdCluster.start({ heartbeatMs: 50, electionMs: 500 });
    const configs = await writeCoordinatorConfigs(dir, {
      endpoints: cluster.endpoints,
      prefix: '/lbha-mtls/',
      leaseTtl: '3s',
      tls: `{ ca: ${join(pki, 'ca.crt')}, cert: ${join(pki, 'coordinator.crt')}, key: ${join(pki, 'coordinator.key')} }`,
      auth: `{ tokens: [{ name: bob, role: operator, sha256: ${createHash('sha256').update(token).digest('hex')} }] }`,
      spec: 'clusters: []\n',
      http: false,
    });
    for (const c of configs) coordinators.push({ id: c.id, grpc: c.grpc, proc: startNode(BIN.coordinator, ['--config', c.config]) });
    await coordinatorsStarted(coordinators);
  });

  after(() => stopCoordinatorSet(fleet, coordinators, cluster, dir));

  it('relays agents over mTLS to the leader, which authorises them by their own certificates', async (t) => {
    await inOneTerm(t, async (leader, follower) => {
      await Promise.all(fleet.nodes.map((n) => n.disconnect()));
      for (const n of fleet.nodes) n.connect([follower.grpc], tls(`agent-${n.name}`));
      const alice = tls('operator-alice');
      await eventually(async () => {
        const nodes = (await listNodes(follower.grpc, alice.credentials)).nodes;
        return ['lb1', 'lb2'].every((n) => nodes.some((x) => x.name === n && x.connected)) && fleet.nodes.every((n) => n.coordinator === leader);
      }, 'both agents registered at the leader through the follower');
      for (const n of fleet.nodes) assert.equal(n.coordinator, leader, `${n.name} was welcomed by the leader`);
    });
  });

  it("keeps relayed agents fresh on the follower's reports of their connections, without heartbeat messages", async (t) => {
    await inOneTerm(t, async (leader, follower) => {
      await Promise.all(fleet.nodes.map((n) => n.disconnect()));
      for (const n of fleet.nodes) n.connect([follower.grpc], tls(`agent-${n.name}`));
      const alice = tls('operator-alice');
      await eventually(() => fleet.nodes.every((n) => n.coordinator === leader && n.client?.liveness !== undefined), 'both agents welcomed through the follower');
      for (const n of fleet.nodes) assert.equal(n.client?.liveness, 'connection', `${n.name} sends PINGs, no heartbeat messages`);
      const leaderProc = coordinators.find((c) => c.id === leader)?.proc;
      assert.ok(leaderProc?.lines.some((l) => l.event === 'agent.connected' && l['liveness'] === 'relayed'), 'the leader takes their liveness from the reports');
      // Longer than staleAfter (3.5 s): only the follower's reports can keep them fresh.
      const until = Date.now() + 5000;
      while (Date.now() < until) {
        const nodes = (await listNodes(follower.grpc, alice.credentials)).nodes;
        for (const name of ['lb1', 'lb2']) {
          const x = nodes.find((n) => n.name === name);
          assert.ok(x?.connected && !x.stale, `${name} fresh at the leader`);
        }
        await sleep(250);
      }
    });
  });

  it('refuses, at the leader, an agent certificate claiming another node through a follower', async (t) => {
    await inOneTerm(t, async (leader, follower) => {
      const lines = coordinators.find((c) => c.id === leader)!.proc.lines;
      const seen = lines.length;
      const impostor = new FakeFleet('web', ['lb3']);
      try {
        impostor.node('lb3').connect([follower.grpc], tls('agent-lb1'));
        const refused = await eventually(() => lines.slice(seen).find((l) => l.event === 'agent.refused' && l['node'] === 'lb3'), 'the leader to refuse lb3');
        assert.match(String(refused['reason']), /certificate is for node lb1/);
      } finally {
        await impostor.stop();
      }
    });
  });

  it('forwards API calls with the caller named: operator certificate and bearer token', async (t) => {
    await inOneTerm(t, (_leader, follower) => forwardsAs(follower.grpc));
  });

  async function forwardsAs(followerGrpc: string): Promise<void> {
    const follower = { grpc: followerGrpc };
    assert.ok((await listNodes(follower.grpc, tls('operator-alice').credentials)).nodes.length >= 2);
    const caOnly = credentials.createSsl(readFileSync(join(pki, 'ca.crt')));
    const md = new Metadata();
    md.set('authorization', `Bearer ${token}`);
    assert.ok((await listNodes(follower.grpc, caOnly, md)).nodes.length >= 2);
    const bad = new Metadata();
    bad.set('authorization', 'Bearer nope');
    await assert.rejects(listNodes(follower.grpc, caOnly, bad), (err: ServiceError) => err.code === 16 /* UNAUTHENTICATED */);
    // An agent certificate cannot use the API, also when a follower forwards the call.
    await assert.rejects(listNodes(follower.grpc, tls('agent-lb1').credentials), (err: ServiceError) => err.code === 7 /* PERMISSION_DENIED */);
  }
});
