// Real coordinator and agent binaries over real gRPC on 127.0.0.1.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { credentials, Metadata } from '@grpc/grpc-js';
import { ControlServiceClient, type pbControl } from '@lbha/shared/control';
import { eventually, freePort } from '@lbha/test-support';
import { BIN } from '../support/paths.js';
import { runNode, startNode, type Proc } from '../support/process.js';

const dir = mkdtempSync(join(tmpdir(), 'lbha-foundation-'));
const procs: Proc[] = [];
let port = 0;
let address = '';

function coordinatorConfig(extra = ''): string {
  const file = join(dir, 'coordinator.yaml');
  writeFileSync(
    file,
    `id: coord-test
grpc:
  listen: ["127.0.0.1:${port}"]
tls:
  insecure: true
# These tests read the node list without credentials.
auth: { anonymous: read-only }
stateDir: ${join(dir, 'coord-state')}
heartbeat:
  interval: 200ms
  staleAfter: 1s
${extra}`,
  );
  return file;
}

function agentConfig(name: string, node: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `node: ${node}
cluster: web
coordinator:
  addresses: ["${address}"]
  backoff: { initial: 50ms, max: 500ms }
tls: { insecure: true }
stateDir: ${join(dir, name)}
runtimeDir: ${join(dir, name, 'run')}
metrics: { listen: "" }
`,
  );
  return file;
}

function start(script: string, config: string): Proc {
  const p = startNode(script, ['--config', config], { LBHA_LOG_LEVEL: 'debug' });
  procs.push(p);
  return p;
}

function listNodes(): Promise<pbControl.NodeInfo[]> {
  const client = new ControlServiceClient(address, credentials.createInsecure());
  return new Promise((resolve, reject) =>
    client.listNodes({ cluster: '' }, new Metadata(), { deadline: Date.now() + 3000 }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res.nodes);
    }),
  );
}

async function node(name: string): Promise<pbControl.NodeInfo | undefined> {
  return (await listNodes()).find((n) => n.name === name);
}

describe('coordinator and agents over gRPC', () => {
  let coordinator: Proc;

  before(async () => {
    port = await freePort();
    address = `127.0.0.1:${port}`;
    coordinator = start(BIN.coordinator, coordinatorConfig());
    await coordinator.waitForLog((l) => l.event === 'coordinator.started');
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
  });

  it('registers an agent, which then heartbeats', async () => {
    const agent = start(BIN.agent, agentConfig('lb1', 'lb1'));
    const n = await eventually(async () => {
      const r = await node('lb1');
      return r?.connected && r.state ? r : undefined;
    }, 'lb1 to register with a snapshot');
    assert.equal(n.cluster, 'web');
    assert.equal(n.stale, false);
    assert.ok(n.bootId.length > 0);
    const seen = n.lastSeenMs;
    await eventually(async () => ((await node('lb1'))?.lastSeenMs ?? 0) > seen, 'a later heartbeat');
    await agent.waitForLog((l) => l.event === 'stream.connected');
  });

  it('refuses a second agent claiming a live node name', async () => {
    const first = await node('lb1');
    const dup = start(BIN.agent, agentConfig('lb1-dup', 'lb1'));
    const refused = await dup.waitForLog((l) => l.event === 'stream.error' && l['code'] === 6);
    assert.match(String(refused['details']), /already connected/);
    const after = await node('lb1');
    assert.equal(after?.bootId, first?.bootId, 'the first agent keeps the name');
    await dup.stop();
  });

  it('marks a hung agent stale and fresh again when it resumes', async () => {
    const agent = start(BIN.agent, agentConfig('lb2', 'lb2'));
    await eventually(async () => (await node('lb2'))?.connected, 'lb2 to connect');
    agent.kill('SIGSTOP');
    await eventually(async () => (await node('lb2'))?.stale, 'lb2 to go stale');
    agent.kill('SIGCONT');
    await eventually(async () => {
      const n = await node('lb2');
      return n?.connected && !n.stale;
    }, 'lb2 to be fresh again');
  });

  it('sees a killed agent disconnect', async () => {
    const agent = start(BIN.agent, agentConfig('lb3', 'lb3'));
    await eventually(async () => (await node('lb3'))?.connected, 'lb3 to connect');
    agent.kill('SIGKILL');
    const n = await eventually(async () => {
      const r = await node('lb3');
      return r && (!r.connected || r.stale) ? r : undefined;
    }, 'lb3 to be seen gone');
    assert.ok(!n.connected || n.stale);
  });

  it('gets every agent back after the coordinator restarts', async () => {
    const before = (await listNodes()).filter((n) => n.connected && !n.stale).map((n) => n.name).sort();
    assert.ok(before.includes('lb1'));
    coordinator.kill('SIGKILL');
    await coordinator.exited;
    coordinator = start(BIN.coordinator, coordinatorConfig());
    await coordinator.waitForLog((l) => l.event === 'coordinator.started');
    const nodes = await eventually(async () => {
      const all = (await listNodes()).filter((n) => n.connected && n.state);
      return all.length >= before.length ? all : undefined;
    }, 'agents to reconnect');
    assert.deepEqual(nodes.map((n) => n.name).sort(), before);
    for (const n of nodes) assert.ok(n.state, `${n.name} resent its snapshot`);
  });

  it('shuts down cleanly on SIGTERM', async () => {
    const agent = start(BIN.agent, agentConfig('lb4', 'lb4'));
    await eventually(async () => (await node('lb4'))?.connected, 'lb4 to connect');
    agent.kill('SIGTERM');
    const { code } = await agent.exited;
    assert.equal(code, 0);
  });
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe('configuration errors', () => {
  it('the coordinator refuses a malformed config naming the field and line', async () => {
    const file = join(dir, 'bad-coordinator.yaml');
    writeFileSync(file, 'grpc:\n  listen: "127.0.0.1:1"\ntls: { insecure: true }\n');
    const r = await runNode(BIN.coordinator, ['--config', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad-coordinator\.yaml:2:\d+: grpc\.listen: Expected array, received string/);
  });

  it('the agent refuses an unknown field and a bad node name', async () => {
    const file = join(dir, 'bad-agent.yaml');
    writeFileSync(file, 'node: "../etc"\ncluster: web\ncoordinator: { addresses: ["127.0.0.1:1"] }\ntls: { insecure: true }\nbogus: 1\n');
    const r = await runNode(BIN.agent, ['--config', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad-agent\.yaml:1:\d+: node: "\.\.\/etc" is not a valid name/);
    assert.match(r.stderr, /Unrecognized key\(s\) in object: 'bogus'/);
  });

  it('a missing config file is named', async () => {
    const r = await runNode(BIN.agent, ['--config', join(dir, 'nope.yaml')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /nope\.yaml: cannot read/);
  });
});
