// `lbha events` as an operator uses it: the real CLI binary against a real coordinator with fake
// agents (over gRPC), listing with filters and JSON, and `--follow` streaming events as they
// happen until interrupted.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { Harness, LB1, LB2 } from '@lbha/coordinator/test-harness';
import { eventually } from '@lbha/test-support';
import { BIN } from '../support/paths.js';
import { runNode } from '../support/process.js';

interface JsonEvent {
  seq: number;
  type: string;
  cluster: string;
  node: string;
  severity: string;
  message: string;
}

describe('lbha events', () => {
  let h: Harness;
  const cli = (...args: string[]) => runNode(BIN.cli, ['events', ...args, '--insecure', '--coordinator', h.address]);

  before(async () => {
    h = await Harness.seeded();
  });

  after(async () => {
    await h.stop();
  });

  it('lists the event log as a table, filtered by node', async () => {
    const r = await cli('--node', LB2);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.ok(lines.length >= 1);
    for (const l of lines) assert.match(l, /^\d{4}-\d\d-\d\dT\S+Z (INFO|WARNING|CRITICAL)\s+\S+\s+web\/nginx-lb02/, l);
    assert.ok(lines.some((l) => /agent\.connected\s+web\/nginx-lb02\s+agent of nginx-lb02 connected/.test(l)));
  });

  it('prints one JSON object per line with --json, in sequence order', async () => {
    const r = await cli('--json', '--cluster', 'web');
    assert.equal(r.code, 0, r.stderr);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as JsonEvent);
    assert.ok(events.length >= 2);
    assert.deepEqual(events.map((e) => e.seq), [...events.map((e) => e.seq)].sort((a, b) => a - b));
    assert.ok(events.every((e) => e.cluster === 'web'));
    assert.ok(events.some((e) => e.type === 'agent.connected' && e.node === LB1));
  });

  it('--follow replays, then streams new events until interrupted', async () => {
    const after = h.server.events.lastSeq();
    const child = spawn(process.execPath, [BIN.cli, 'events', '--follow', '--json', '--after', String(after), '--node', LB2, '--insecure', '--coordinator', h.address], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const seen: JsonEvent[] = [];
    createInterface({ input: child.stdout }).on('line', (l) => seen.push(JSON.parse(l) as JsonEvent));
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      // Something happens to lb2 while the CLI follows: its agent goes away.
      await eventually(async () => {
        h.server.events.record({ type: 'test.marker', cluster: 'web', node: LB2, message: 'follow is listening' });
        await new Promise((r) => setTimeout(r, 100));
        return seen.some((e) => e.type === 'test.marker');
      }, 'the follower to receive a live event');
      h.agents.get(LB2)?.disconnect();
      await eventually(() => seen.some((e) => e.type === 'agent.disconnected'), 'agent.disconnected streamed');
      assert.ok(seen.every((e) => e.node === LB2 && e.seq > after), JSON.stringify(seen));
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await exited, 0, `interrupting --follow exits 0 (${stderr})`);
  });

  it('refuses a bad filter with one line and exit 2', async () => {
    const r = await cli('--after', 'soon');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^lbha: --after must be a whole number\n$/);
  });
});
