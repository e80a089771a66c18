// `lbha backends` and `lbha backend ...` against a real coordinator whose fake agents run the
// server states they are sent: the table with each node's view and a disagreement flagged, the
// JSON, a drain that waits with progress, the interlock's one-line refusal, and usage errors.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli } from '@lbha/cli';
import { Harness, LB1, LB2, SEED1 } from '@lbha/coordinator/test-harness';
import type { BackendServer } from '@lbha/shared';
import { eventually } from '@lbha/test-support';

const SPEC = `${SEED1.trimEnd()}
    backends:
      report_interval: 1s
      pools:
        - name: webserver
          servers:
            - { name: web1, address: "192.168.50.22:80" }
            - { name: web2, address: "192.168.50.23:80" }
`;

const server = (name: string, address: string): BackendServer => ({ pool: 'webserver', server: name, address, admin: 'ready', health: 'unknown', weight: 1, sessions: 0, check: '', managed: true });

describe('lbha backends and lbha backend', () => {
  let h: Harness;

  before(async () => {
    h = await Harness.start();
    await h.applySpec(SPEC);
    for (const n of [LB1, LB2]) await h.agent(n, { backends: [server('web1', '192.168.50.22:80'), server('web2', '192.168.50.23:80')] });
  });

  after(async () => {
    await h.stop();
  });

  async function lbha(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await runCli([...args, '--insecure', '--coordinator', h.address], { stdout: (s) => (out += s), stderr: (s) => (err += s), env: {} });
    return { code, out, err };
  }

  it('shows every server on every LB node, the pool\'s healthy count and that the configurations agree', async () => {
    const r = await eventually(async () => {
      const x = await lbha('backends', 'web');
      return /webserver\s+web2\s+192\.168\.50\.23:80\s+ready\s+ready 0s w1\s+ready 0s w1/.test(x.out) ? x : undefined;
    }, 'both agents to report the pool');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`POOL\\s+SERVER\\s+ADDRESS\\s+WANTED\\s+${LB1.toUpperCase()}\\s+${LB2.toUpperCase()}\\s+PROBLEM`));
    assert.match(r.out, /^pool webserver: 2 healthy, minimum 1$/m);
    assert.match(r.out, /^configuration: the LB nodes agree$/m);
    const json = JSON.parse((await lbha('backends', 'web', '--json')).out) as { servers: Array<{ server: string; nodes: Array<{ node: string }> }> };
    assert.deepEqual(json.servers.map((s) => [s.server, s.nodes.map((n) => n.node)]), [['web1', [LB1, LB2]], ['web2', [LB1, LB2]]]);
  });

  it('drains with --wait, showing each step, and flags a node that runs a server otherwise', async () => {
    const r = await lbha('backend', 'drain', 'web', 'web1', '--wait', '--timeout', '10s', '--reason', 'deploy');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^backend-drain web1 in cluster web: succeeded - web1 in cluster web: webserver\/web1 drain, no sessions left/m);
    for (const step of ['intent', 'apply', 'sessions']) assert.match(r.err, new RegExp(`^\\s+${step}: succeeded`, 'm'));
    // Someone puts web1 back by hand on one node: the nodes disagree, and lbha backends says so.
    h.agents.get(LB2)?.setServer('webserver', 'web1', { admin: 'ready' });
    const shown = await eventually(async () => {
      const x = await lbha('backends', 'web');
      return /DISAGREE/.test(x.out) ? x : undefined;
    }, 'the disagreement to show');
    assert.match(shown.out, new RegExp(`webserver\\s+web1\\s+\\S+\\s+drain\\s+drain 0s w1\\s+ready 0s w1\\s+DISAGREE: `));
  });

  it('refuses to drain the last healthy server in one line, and --force overrides', async () => {
    const refused = await lbha('backend', 'drain', 'web', 'webserver/web2');
    assert.equal(refused.code, 1);
    assert.match(refused.err, /pool webserver would keep 0 healthy servers, fewer than its minimum of 1/);
    assert.equal(refused.err.split('\n').filter((l) => l !== '').length, 1);
    const undrain = await lbha('backend', 'undrain', 'web', 'web1', '--wait');
    assert.equal(undrain.code, 0, undrain.err);
  });

  it('usage errors exit 2 and change nothing', async () => {
    for (const args of [['backend'], ['backend', 'drain', 'web'], ['backend', 'weight', 'web', 'web1'], ['backend', 'weight', 'web', 'web1', 'heavy'], ['backend', 'explode', 'web', 'web1'], ['backends', 'web', 'extra']]) {
      const r = await lbha(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.out}${r.err}`);
    }
    const ops = JSON.parse((await lbha('operations', '--json')).out) as { operations: Array<{ kind: string }> };
    // The drain and the undrain; the refused drain was refused at the call and started nothing.
    assert.deepEqual(ops.operations.filter((o) => o.kind.startsWith('backend')).map((o) => o.kind).sort(), ['backend_drain', 'backend_undrain']);
  });
});
