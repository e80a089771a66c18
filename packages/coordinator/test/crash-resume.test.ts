// The real lbha-coordinator binary killed with SIGKILL in the middle of a drain: after a restart
// it resumes the drain from the store, re-sends the journaled command with the same id (the
// agent runs it once) and completes it.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { ControlServiceClient, type pbControl } from '@lbha/shared/control';
import { eventually, freePort, WAIT_BOUND_MS } from '@lbha/test-support';
import { LB1, LB2, SEED1 } from './support/coordinator-harness.js';
import { FakeAgent, FakeSegment } from './support/fake-agent.js';

const BIN = fileURLToPath(new URL('../src/bin/lbha-coordinator.js', import.meta.url));

function startCoordinator(config: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`coordinator did not start: ${stderr.join('\n')}`)), WAIT_BOUND_MS);
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (l.includes('"event":"coordinator.started"')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => reject(new Error(`coordinator exited with ${code}: ${stderr.join('\n')}`)));
  });
}

describe('coordinator killed during a drain', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-crash-'));
  const children: ChildProcess[] = [];
  const agents: FakeAgent[] = [];

  after(() => {
    for (const a of agents) a.disconnect();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('resumes the drain after a restart and runs its command once', async () => {
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const specFile = join(dir, 'spec.yaml');
    writeFileSync(specFile, SEED1);
    const config = join(dir, 'coordinator.yaml');
    writeFileSync(
      config,
      `id: crash-test
grpc: { listen: ["${address}"] }
tls: { insecure: true }
auth: { anonymous: operator }
spec: ${specFile}
stateDir: ${join(dir, 'state')}
heartbeat: { interval: 100ms, staleAfter: 1s }
log: { level: info }
`,
    );
    children.push(await startCoordinator(config));
    const client = new ControlServiceClient(address, credentials.createInsecure());
    const rpc = <Res>(method: 'drain' | 'getOperation' | 'listVips', req: unknown): Promise<Res> =>
      new Promise((resolve, reject) =>
        (client[method] as unknown as (r: unknown, cb: (e: ServiceError | null, res: Res) => void) => void).call(client, req, (e, res) => (e ? reject(e) : resolve(res))),
      );

    const segment = new FakeSegment();
    const a1 = new FakeAgent(address, LB1, 'web', segment, { drainMs: 120_000 });
    const a2 = new FakeAgent(address, LB2, 'web', segment);
    agents.push(a1, a2);
    await a1.connect();
    await a2.connect();
    await eventually(async () => (await rpc<pbControl.ListVipsResponse>('listVips', { cluster: '' })).vips.every((v) => v.status === 'ok'), 'the seed VIPs settled');

    const op = (await rpc<pbControl.DrainResponse>('drain', { node: LB1, timeoutMs: 30_000, force: false, reason: 'crash test' })).operation as pbControl.Operation;
    await eventually(() => a1.received.some((c) => c.action.kind === 'drain'), 'the drain command at lb01');

    children[0]?.kill('SIGKILL');
    await new Promise((r) => children[0]?.once('exit', r));
    client.close();
    await eventually(() => !a1.connected && !a2.connected, 'agents notice the coordinator is gone');

    children.push(await startCoordinator(config));
    const client2 = new ControlServiceClient(address, credentials.createInsecure());
    const get = (id: string) =>
      new Promise<pbControl.Operation | undefined>((resolve, reject) =>
        client2.getOperation({ id }, (e: ServiceError | null, res: pbControl.GetOperationResponse) => (e ? reject(e) : resolve(res.operation))),
      );
    assert.equal((await get(op.id))?.state, 'running', 'the restarted coordinator knows the drain is in flight');
    await a2.connect();
    await a1.connect();
    // The journaled command is sent again with the same id; the agent does not run it twice.
    await eventually(() => a1.received.filter((c) => c.action.kind === 'drain').length >= 2, 'the drain command re-sent after the restart');
    const ids = a1.received.filter((c) => c.action.kind === 'drain').map((c) => c.id);
    assert.equal(new Set(ids).size, 1);
    assert.equal(a1.executed.length, 1);
    a1.finishDrains();
    const done = await eventually(async () => {
      const o = await get(op.id);
      return o && o.state !== 'running' ? o : undefined;
    }, 'the resumed drain to finish');
    assert.equal(done.state, 'succeeded', done.message);
    assert.deepEqual(done.steps.map((s) => s.name), ['mode:draining', 'move-vips', 'connections', 'mode:drained']);
    client2.close();
  });
});
