// Several coordinators on etcd in the lab: real keepalived and nginx in network namespaces, the
// real agents (mutual TLS) talking to three lbha-coordinators on a 3-member etcd cluster. Under a
// client probe on both VIPs: the leader coordinator is SIGKILLed and another takes over, and no
// VIP moves and no request fails, and an agent whose stream a follower relayed keeps it (the
// follower moves it to the next leader); then etcd loses its majority, the coordinators say so, and
// the data plane still fails over on its own when nginx dies on a VIP holder.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { credentials, Metadata } from '@grpc/grpc-js';
import { ControlServiceClient, type pbControl } from '@lbha/shared/control';
import { freePort, waitFor } from '@lbha/test-support';
import { LB_NODES, runLeftovers, startLab, summarizeProbe, type Lab, type ProbeSession } from '../lab/index.js';
import { EtcdCluster, etcdUnavailableReason } from '../support/etcd-cluster.js';
import { BIN } from '../support/paths.js';
import { startNode, type Proc } from '../support/process.js';
import { skipReason, waitForBaseline, waitForSuccesses } from './e2e-support.js';

const skip = skipReason ?? etcdUnavailableReason();

interface Coordinator {
  readonly id: string;
  readonly grpc: string;
  readonly socket: string;
  readonly config: string;
  proc: Proc;
}

describe('three coordinators on etcd in the lab', { skip, timeout: 10 * 60_000 }, () => {
  let lab: Lab | undefined;
  let cluster: EtcdCluster | undefined;
  // Short: unix socket paths are limited to 107 bytes.
  const dir = mkdtempSync('/tmp/lbha-ec-');
  const coordinators: Coordinator[] = [];

  function api(c: Coordinator): ControlServiceClient {
    const tls = lab!.agents!.tls;
    const creds = credentials.createSsl(readFileSync(tls.ca), readFileSync(tls.operatorKey), readFileSync(tls.operatorCert));
    return new ControlServiceClient(c.grpc, creds, { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' });
  }

  function unary<Res>(c: Coordinator, method: 'listNodes' | 'listEvents', req: object): Promise<Res> {
    const client = api(c);
    return new Promise<Res>((resolve, reject) => {
      const fn = client[method] as unknown as (r: object, m: Metadata, o: object, cb: (err: Error | null, res: Res) => void) => void;
      fn.call(client, req, new Metadata(), { deadline: Date.now() + 5000 }, (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res);
      });
    });
  }

  const live = () => coordinators.filter((c) => c.proc.child.exitCode === null && c.proc.child.signalCode === null);

  /** The coordinator whose latest election event says it leads. */
  function claimedLeaders(among: Coordinator[]): Coordinator[] {
    return among.filter((c) => {
      const ev = c.proc.lines.filter((l) => l.event === 'election.elected' || l.event === 'election.deposed');
      return ev.at(-1)?.event === 'election.elected';
    });
  }

  async function leader(among: Coordinator[] = live()): Promise<Coordinator> {
    return waitFor('exactly one leader', async () => {
      const l = claimedLeaders(among);
      return l.length === 1 ? { done: true, value: l[0]! } : { done: false, observed: `${l.length} leaders` };
    }, { timeoutMs: 30_000, intervalMs: 50 });
  }

  async function bothConnected(c: Coordinator): Promise<void> {
    await waitFor(`both agents connected through ${c.id}`, async () => {
      const nodes = await unary<pbControl.ListNodesResponse>(c, 'listNodes', { cluster: '' }).then((r) => r.nodes).catch(() => []);
      const ok = LB_NODES.every((n) => nodes.some((x) => x.name === n && x.connected && !x.stale && x.healthy));
      return ok ? { done: true, value: undefined } : { done: false, observed: JSON.stringify(nodes.map((n) => [n.name, n.connected, n.healthy])) };
    }, { timeoutMs: 60_000, intervalMs: 200 });
  }

  before(async () => {
    lab = await startLab({ topology: 'a', control: 'agent' });
    await waitForBaseline(lab);
    cluster = await EtcdCluster.start({ heartbeatMs: 50, electionMs: 500 });
    const agents = lab.agents!;
    for (const id of ['c1', 'c2', 'c3']) {
      const grpc = `127.0.0.1:${await freePort()}`;
      const socket = join(dir, `${id}.sock`);
      const config = join(dir, `${id}.yaml`);
      writeFileSync(
        config,
        `id: ${id}
grpc: { listen: ["${grpc}", "unix://${socket}"] }
tls: { ca: ${agents.tls.ca}, cert: ${agents.tls.coordinatorCert}, key: ${agents.tls.coordinatorKey} }
spec: ${agents.specFile}
stateDir: ${join(dir, id)}
heartbeat: { interval: 500ms, staleAfter: 2s }
store:
  kind: etcd
  endpoints: [${cluster.endpoints.map((e) => `"${e}"`).join(', ')}]
  prefix: /lbha-lab/
  leaseTtl: 3s
  requestTimeout: 500ms
`,
      );
      coordinators.push({ id, grpc, socket, config, proc: startNode(BIN.coordinator, ['--config', config]) });
    }
    await Promise.all(coordinators.map((c) => c.proc.waitForLog((l) => l.event === 'coordinator.started', 30_000)));
    await leader();
    // Move the agents from the lab's single coordinator to the three: what an operator does
    // when adding coordinators (the agents adopt keepalived and nginx; nothing moves).
    await agents.stopCoordinator('SIGTERM');
    for (const [i, node] of LB_NODES.entries()) {
      // Each agent lists them in its own order (as hosts would), so that whoever leads, a
      // follower relays at least one of the two streams.
      const sockets = coordinators.map((_, k) => `"unix://${coordinators[(i + k) % coordinators.length]!.socket}"`).join(', ');
      const file = agents.agentConfigFile(node);
      const text = readFileSync(file, 'utf8');
      const moved = text.replace(/^(\s*addresses:\s*)\[.*\]\s*$/m, `$1[${sockets}]`);
      assert.notEqual(moved, text, 'the agent config names its coordinator addresses');
      writeFileSync(file, moved);
      await agents.stopAgent(node, 'SIGTERM');
      await agents.startAgent(node);
    }
    for (const c of coordinators) await bothConnected(c);
    await waitForBaseline(lab).catch(() => undefined);
    assert.deepEqual(await lab.holders(), { vip1: ['lb1'], vip2: ['lb2'] });
  });

  after(async () => {
    await Promise.all(coordinators.map((c) => c.proc.stop()));
    await cluster?.stop();
    if (lab !== undefined) {
      await lab.down();
      assert.deepEqual(await runLeftovers(lab.runId, lab.runDir), [], 'down leaves no namespace, process or file behind');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  /** An agent's log lines (JSON) from `since` on. */
  function agentLog(node: (typeof LB_NODES)[number], since = 0): { event?: string; address?: string; coordinator?: string; time?: string }[] {
    const file = lab!.agents!.agentProcess(node)?.logFile;
    if (file === undefined) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { event?: string; address?: string; coordinator?: string; time?: string })
      .filter((l) => l.time === undefined || Date.parse(l.time) >= since);
  }

  it('replaces a killed leader: no VIP moves, no request fails, a relayed agent keeps its stream', { timeout: 3 * 60_000 }, async (t) => {
    const l = lab as Lab;
    const probes: ProbeSession[] = [await l.startProbe('vip1'), await l.startProbe('vip2')];
    const moves: string[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const h = await l.holders();
        if (h['vip1']?.join() !== 'lb1' || h['vip2']?.join() !== 'lb2') moves.push(JSON.stringify(h));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      const start = Date.now();
      await waitForSuccesses(probes[0]!, start, 20, 'lb1');
      const old = await leader();
      // The agents a follower relays: their last stream went to another coordinator's socket.
      const relayed = LB_NODES.filter((n) => {
        const address = agentLog(n).filter((l) => l.event === 'stream.connected').at(-1)?.address;
        return address !== undefined && !address.endsWith(old.socket);
      });
      assert.ok(relayed.length > 0, 'the agents list the coordinators in different orders: a follower relays one');
      const t0 = Date.now();
      old.proc.kill('SIGKILL');
      await old.proc.exited;
      const next = await leader(live());
      t.diagnostic(`leader ${old.id} killed; ${next.id} leads after ${Date.now() - t0} ms; relayed: ${relayed.join(', ')}`);
      await bothConnected(next);
      for (const n of relayed) {
        // Welcomed by the next leader on the stream it had: no stream ended, none was opened.
        await waitFor(`${n} welcomed by ${next.id}`, async () => {
          const welcomed = agentLog(n, t0).filter((l) => l.event === 'stream.connected').map((l) => l.coordinator);
          return welcomed.includes(next.id) ? { done: true, value: undefined } : { done: false, observed: JSON.stringify(welcomed) };
        }, { timeoutMs: 30_000, intervalMs: 100 });
        assert.deepEqual(agentLog(n, t0).filter((l) => l.event === 'stream.error' || l.event === 'stream.reconnect_scheduled').map((l) => l.event), [], `${n} kept its stream`);
      }
      // Let the new leader reconcile and push, with the clients still going.
      await waitForSuccesses(probes[1]!, Date.now(), 100, 'lb2');
    } finally {
      watching = false;
      await watcher;
    }
    const records = await Promise.all(probes.map((p) => p.stop()));
    assert.deepEqual(moves, [], 'no VIP moved');
    for (const [i, r] of records.entries()) {
      const s = summarizeProbe(r);
      t.diagnostic(`vip${i + 1}: ${s.requests} requests, ${s.failed} failed`);
      assert.equal(s.failed, 0);
      assert.deepEqual([...new Set(r.map((x) => x.lb))], [i === 0 ? 'lb1' : 'lb2']);
    }
    const killed = coordinators.find((c) => !live().includes(c))!;
    // A killed server leaves its unix socket file behind.
    rmSync(killed.socket, { force: true });
    killed.proc = startNode(BIN.coordinator, ['--config', killed.config]);
    await killed.proc.waitForLog((x) => x.event === 'coordinator.started', 30_000);
  });

  it('with etcd down, reports the outage and the data plane still fails over', { timeout: 3 * 60_000 }, async () => {
    const l = lab as Lab;
    const etcd = cluster!;
    await leader();
    const [x, y] = etcd.members.map((m) => m.name) as [string, string];
    etcd.pause(x);
    etcd.pause(y);
    try {
      for (const c of live()) {
        await waitFor(`${c.id} to record store.unavailable`, async () => {
          const events = await unary<pbControl.ListEventsResponse>(c, 'listEvents', { afterSeq: 0, limit: 0, cluster: '', node: '' }).then((r) => r.events).catch(() => []);
          return events.some((e) => e.type === 'store.unavailable') ? { done: true, value: undefined } : { done: false, observed: `${events.length} events` };
        }, { timeoutMs: 30_000, intervalMs: 200 });
      }
      await waitFor('nobody to lead without etcd', async () => {
        const l = claimedLeaders(live()).map((c) => c.id);
        return l.length === 0 ? { done: true, value: undefined } : { done: false, observed: `${l.join(', ')} still claims to lead` };
      }, { timeoutMs: 15_000, intervalMs: 100 });
      // nginx dies on lb1 and cannot come back: the agent and keepalived move vip1 by themselves.
      const probe = await l.startProbe('vip1');
      await l.killProxy('lb1', { breakConfig: true });
      await l.waitForHolder('vip1', 'lb2', { timeoutMs: 20_000 });
      await waitForSuccesses(probe, Date.now(), 20, 'lb2');
      await probe.stop();
      l.restoreProxyConfig('lb1');
    } finally {
      etcd.resume(x);
      etcd.resume(y);
    }
    const next = await leader(live());
    for (const c of live()) {
      await waitFor(`${c.id} to record store.available`, async () => {
        const events = await unary<pbControl.ListEventsResponse>(c, 'listEvents', { afterSeq: 0, limit: 0, cluster: '', node: '' }).then((r) => r.events).catch(() => []);
        return events.some((e) => e.type === 'store.available') ? { done: true, value: undefined } : { done: false, observed: `${events.length} events` };
      }, { timeoutMs: 30_000, intervalMs: 200 });
    }
    await waitFor('nginx to run on lb1 again', async () => {
      const pid = await l.proxyMasterPid('lb1');
      return pid !== undefined ? { done: true, value: pid } : { done: false, observed: 'not running' };
    }, { timeoutMs: 60_000 });
    await bothConnected(next);
    await l.waitForHolder('vip1', 'lb1', { timeoutMs: 60_000 });
  });
});
