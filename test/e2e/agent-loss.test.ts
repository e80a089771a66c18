// A lost agent as the coordinator sees it, over a real network path (docs/design/agent-stream.md,
// Liveness): a coordinator and an agent (the real binaries, mutual TLS) in two network
// namespaces joined by a veth pair, the agent pinging as a coordinator with the default heartbeat
// settings asks (every 1.75 s). When nftables drops everything on the node's link, nothing
// closes either socket: the node must show stale within heartbeat.staleAfter (3.5 s) of its last
// PING and disconnected once its connection has read nothing for 15 s. When the agent process is
// killed, its kernel closes the connection and the node shows disconnected at once.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AGENT_ENV, AGENT_NODE_FLAGS } from '@lbha/agent';
import { COORDINATOR_NODE_FLAGS, COORDINATOR_OPENSSL_FLAG, createDevCa } from '@lbha/coordinator';
import { waitFor } from '@lbha/test-support';
import { cleanupRuns, removeLeftoverNamespaces } from '../lab/cleanup.js';
import { spawnLabProcess, type LabProcess } from '../lab/lab-process.js';
import { scratchNamespace } from '../lab/lab-names.js';
import { deleteNamespaces, killNamespaceProcesses } from '../lab/network.js';
import { AGENT_BIN, COORDINATOR_BIN } from '../lab/repo-paths.js';
import { ip, ipIn, runInNamespace } from '../lab/run-command.js';
import { skipReason } from './e2e-support.js';

const COORD_ADDRESS = '10.231.0.1';
const NODE_ADDRESS = '10.231.0.2';
const PORT = 7443;
/** The coordinator's defaults (coordinator-config.ts), which this test leaves as they are. */
const STALE_AFTER_MS = 3500;
const PING_MS = 1750;
const DEAD_CONNECTION_MS = 15_000;
/** What the coordinator may add to a deadline: its sweep runs every 500 ms, on a loaded machine later. */
const SWEEP_SLACK_MS = 1500;
const CUT_TABLE = 'lbha_agent_loss';

interface CoordinatorEvent {
  readonly event: string;
  readonly node?: string;
  /** Epoch ms (the log line's ISO time). */
  readonly time: number;
  readonly silentMs?: number;
  readonly reason?: string;
}

describe('a lost agent, over a real network path', { skip: skipReason, timeout: 3 * 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-agent-loss-'));
  const ns = { coord: scratchNamespace('al-coord'), node: scratchNamespace('al-node') };
  let coordinator: LabProcess | undefined;
  let agent: LabProcess | undefined;
  let agentStarts = 0;

  /** The coordinator's log records about lb1 (pino JSON lines), oldest first. */
  const events = (): CoordinatorEvent[] =>
    readFileSync(join(dir, 'coordinator.log'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        const r = JSON.parse(l) as Omit<CoordinatorEvent, 'time'> & { time: string };
        return { ...r, time: Date.parse(r.time) };
      })
      .filter((e) => e.node === 'lb1');

  /** The first record of `event` about lb1 logged at or after `since`. */
  const nextEvent = (event: string, since: number, timeoutMs: number): Promise<CoordinatorEvent> =>
    waitFor(`the coordinator to log ${event} for lb1`, async () => {
      const e = events().find((x) => x.event === event && x.time >= since);
      return e ? { done: true, value: e } : { done: false, observed: events().slice(-1)[0]?.event ?? 'nothing yet' };
    }, { timeoutMs, intervalMs: 20 });

  const startAgent = (): LabProcess => {
    agentStarts++;
    agent = spawnLabProcess({
      name: `agent-${agentStarts}`,
      ns: ns.node,
      command: process.execPath,
      args: [...AGENT_NODE_FLAGS, AGENT_BIN, '--config', join(dir, 'agent.yaml')],
      logFile: join(dir, `agent-${agentStarts}.log`),
      env: { ...process.env, ...AGENT_ENV },
    });
    return agent;
  };

  const cut = async (): Promise<void> => {
    const file = join(dir, 'cut.nft');
    writeFileSync(
      file,
      [
        `table inet ${CUT_TABLE} {`,
        '  chain in { type filter hook input priority -400; policy accept; iifname "eth0" drop; }',
        '  chain out { type filter hook output priority -400; policy accept; oifname "eth0" drop; }',
        '}',
        '',
      ].join('\n'),
    );
    const out = await runInNamespace(ns.node, 'nft', ['-f', file]);
    assert.equal(out.code, 0, `nft: ${out.stderr}`);
  };
  const mend = async (): Promise<void> => {
    await runInNamespace(ns.node, 'nft', ['delete', 'table', 'inet', CUT_TABLE]);
  };

  before(async () => {
    // Namespaces of crashed runs (of a dead test process, or of an earlier one with this pid).
    await cleanupRuns();
    await removeLeftoverNamespaces([ns.coord, ns.node]);
    await ip(['netns', 'add', ns.coord]);
    await ip(['netns', 'add', ns.node]);
    await ipIn(ns.coord, ['link', 'set', 'lo', 'up']);
    await ipIn(ns.node, ['link', 'set', 'lo', 'up']);
    await ipIn(ns.coord, ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.node]);
    await ipIn(ns.coord, ['addr', 'add', `${COORD_ADDRESS}/30`, 'dev', 'eth0']);
    await ipIn(ns.node, ['addr', 'add', `${NODE_ADDRESS}/30`, 'dev', 'eth0']);
    await ipIn(ns.coord, ['link', 'set', 'eth0', 'up']);
    await ipIn(ns.node, ['link', 'set', 'eth0', 'up']);

    const ca = createDevCa({ dir: join(dir, 'pki'), agents: ['lb1'], serverNames: [COORD_ADDRESS] });
    writeFileSync(
      join(dir, 'coordinator.yaml'),
      [
        'id: agent-loss',
        `grpc: { listen: ["${COORD_ADDRESS}:${PORT}"] }`,
        `tls: { ca: ${ca.ca.cert}, cert: ${ca.coordinator.cert}, key: ${ca.coordinator.key} }`,
        `stateDir: ${join(dir, 'coordinator-state')}`,
        'log: { level: info }',
        '',
      ].join('\n'),
    );
    const pair = ca.agents['lb1'] as { cert: string; key: string };
    writeFileSync(
      join(dir, 'agent.yaml'),
      [
        'node: lb1',
        'cluster: web',
        'coordinator:',
        `  addresses: ["${COORD_ADDRESS}:${PORT}"]`,
        '  backoff: { initial: 50ms, max: 500ms }',
        `tls: { ca: ${ca.ca.cert}, cert: ${pair.cert}, key: ${pair.key} }`,
        `stateDir: ${join(dir, 'agent-state')}`,
        `runtimeDir: ${join(dir, 'agent-run')}`,
        'metrics: { listen: "" }',
        '',
      ].join('\n'),
    );
    coordinator = spawnLabProcess({
      name: 'coordinator',
      ns: ns.coord,
      command: process.execPath,
      args: [...COORDINATOR_NODE_FLAGS, COORDINATOR_OPENSSL_FLAG, COORDINATOR_BIN, '--config', join(dir, 'coordinator.yaml')],
      logFile: join(dir, 'coordinator.log'),
    });
    startAgent();
    await nextEvent('agent.connected', 0, 30_000);
  });

  after(async () => {
    await agent?.stop('SIGKILL');
    await coordinator?.stop('SIGTERM');
    await killNamespaceProcesses([ns.coord, ns.node]);
    await deleteNamespaces([ns.coord, ns.node]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('pings as the coordinator asks and stays fresh on its PINGs alone', async () => {
    const connected = await waitFor('the agent to log its stream', async () => {
      const line = readFileSync(agent?.logFile as string, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { event?: string; liveness?: string; pingMs?: number })
        .find((l) => l.event === 'stream.connected');
      return line ? { done: true, value: line } : { done: false, observed: 'no stream.connected yet' };
    }, { timeoutMs: 10_000 });
    assert.equal(connected.liveness, 'connection', 'its coordinator reads its TCP connection');
    assert.equal(connected.pingMs, PING_MS);
    const since = Date.now();
    await new Promise((r) => setTimeout(r, 2 * STALE_AFTER_MS));
    assert.deepEqual(events().filter((e) => e.time >= since && e.event !== 'agent.connected'), [], 'nothing about lb1 while it pings');
  });

  it('behind a cut path (nothing closes): stale within staleAfter of its last PING, disconnected once its connection read nothing for 15 s', async () => {
    const before = Date.now();
    await cut();
    const cutAt = Date.now();
    try {
      const stale = await nextEvent('agent.stale', before, STALE_AFTER_MS + 10_000);
      // The last PING got through at most one interval before the cut, and at most staleAfter
      // (and a sweep) later the node is stale; not before staleAfter after the cut's start minus
      // that interval.
      console.log(`stale ${stale.time - cutAt} ms after the cut (silent ${stale.silentMs} ms)`);
      assert.ok(stale.time >= before + STALE_AFTER_MS - PING_MS - 100, `stale ${stale.time - before} ms after the cut`);
      assert.ok(stale.time <= cutAt + STALE_AFTER_MS + SWEEP_SLACK_MS, `stale ${stale.time - cutAt} ms after the cut`);
      const dead = await nextEvent('agent.disconnected', before, DEAD_CONNECTION_MS + 15_000);
      console.log(`disconnected ${dead.time - cutAt} ms after the cut (${dead.reason})`);
      assert.ok(events().some((e) => e.event === 'agent.connection_dead' && e.time >= before), 'closed by the liveness sweep, not by a closed socket');
      assert.ok(dead.time >= before + DEAD_CONNECTION_MS - PING_MS - 100, `disconnected ${dead.time - before} ms after the cut`);
      assert.ok(dead.time <= cutAt + DEAD_CONNECTION_MS + SWEEP_SLACK_MS, `disconnected ${dead.time - cutAt} ms after the cut`);
    } finally {
      await mend();
    }
    // Mended, the agent (which gave up on its connection when its PING went unanswered) is back.
    await nextEvent('agent.connected', cutAt, 30_000);
  });

  it('a killed agent process: its kernel closes the connection, disconnected at once', async () => {
    const proc = agent as LabProcess;
    // Connected and fresh (the previous test leaves it reconnecting).
    await waitFor('lb1 connected', async () => {
      const last = events().filter((e) => ['agent.connected', 'agent.disconnected', 'agent.stale', 'agent.fresh'].includes(e.event)).slice(-1)[0];
      return last?.event === 'agent.connected' || last?.event === 'agent.fresh' ? { done: true, value: undefined } : { done: false, observed: last?.event ?? 'nothing' };
    }, { timeoutMs: 30_000 });
    const killedAt = Date.now();
    process.kill(proc.pid, 'SIGKILL');
    const gone = await nextEvent('agent.disconnected', killedAt, 10_000);
    console.log(`disconnected ${gone.time - killedAt} ms after SIGKILL (${gone.reason})`);
    assert.ok(gone.time - killedAt < 1000, `disconnected ${gone.time - killedAt} ms after SIGKILL`);
    assert.ok(!events().some((e) => e.event === 'agent.stale' && e.time >= killedAt), 'never stale on the way');
    await proc.exited;
  });
});
