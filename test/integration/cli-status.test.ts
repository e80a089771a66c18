// `lbha status` against a real coordinator and agent.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually, freePort } from '@lbha/test-support';
import { BIN } from '../support/paths.js';
import { runNode, startNode, type Proc } from '../support/process.js';

describe('lbha status', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-cli-'));
  const procs: Proc[] = [];
  let address = '';

  before(async () => {
    const port = await freePort();
    address = `127.0.0.1:${port}`;
    writeFileSync(join(dir, 'c.yaml'), `grpc: { listen: ["${address}"] }\ntls: { insecure: true }\nauth: { anonymous: read-only }\nstateDir: ${dir}/c\n`);
    writeFileSync(join(dir, 'a.yaml'), `node: lb1\ncluster: web\ncoordinator: { addresses: ["${address}"] }\ntls: { insecure: true }\nstateDir: ${dir}/a\nruntimeDir: ${dir}/a/run\nmetrics: { listen: "" }\n`);
    const c = startNode(BIN.coordinator, ['--config', join(dir, 'c.yaml')]);
    procs.push(c);
    await c.waitForLog((l) => l.event === 'coordinator.started');
    procs.push(startNode(BIN.agent, ['--config', join(dir, 'a.yaml')]));
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints a table of nodes', async () => {
    // The node is listed once its agent said Hello, healthy once its first snapshot arrived.
    const r = await eventually(async () => {
      const x = await runNode(BIN.cli, ['status', '--insecure', '-C', address]);
      return /^lb1\s.*healthy/m.test(x.stdout) ? x : undefined;
    }, 'lb1 in the table, with its report');
    assert.equal(r.code, 0);
    const [header, row] = r.stdout.trim().split('\n');
    assert.match(header ?? '', /^NODE\s+CLUSTER\s+CONNECTION\s+MODE\s+HEALTH/);
    assert.match(row ?? '', /^lb1\s+web\s+connected\s+active\s+healthy/);
  });

  it('takes global flags before the command', async () => {
    const r = await runNode(BIN.cli, ['-C', address, '--insecure', '--timeout', '5000', 'status', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok((JSON.parse(r.stdout) as { nodes: unknown[] }).nodes.length >= 1);
    const long = await runNode(BIN.cli, [`--coordinator=${address}`, '--insecure', 'status']);
    assert.equal(long.code, 0, long.stderr);
  });

  it('prints JSON with --json, configured from the environment', async () => {
    const r = await runNode(BIN.cli, ['status', '--json'], { LBHA_COORDINATOR: address, LBHA_INSECURE: '1' });
    assert.equal(r.code, 0, r.stderr);
    const parsed = JSON.parse(r.stdout) as { nodes: Array<{ name: string; connected: boolean; mode: string }> };
    assert.deepEqual(parsed.nodes.map((n) => [n.name, n.connected, n.mode]), [['lb1', true, 'active']]);
  });

  it('exits 1 with one line when the coordinator is unreachable', async () => {
    const port = await freePort();
    const r = await runNode(BIN.cli, ['status', '--insecure', '-C', `127.0.0.1:${port}`, '--timeout', '2000']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /^lbha: coordinator at 127\.0\.0\.1:\d+ (is unreachable|did not answer in time)/);
  });

  it('exits 2 on a bad command line', async () => {
    const unknown = await runNode(BIN.cli, ['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    const badFlag = await runNode(BIN.cli, ['status', '--insecure', '--bogus']);
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /Unknown option '--bogus'/);
    const noTls = await runNode(BIN.cli, ['status', '-C', address], { HOME: dir });
    assert.equal(noTls.code, 2);
    assert.match(noTls.stderr, /no TLS CA given/);
    const missingConfig = await runNode(BIN.cli, ['status'], { LBHA_CONFIG: join(dir, 'none.yaml') });
    assert.equal(missingConfig.code, 2);
    assert.match(missingConfig.stderr, /none\.yaml: cannot read/);
  });
});
