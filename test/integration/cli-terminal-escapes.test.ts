// Strings an agent or an operator controls (NACK messages, reasons) reach other operators'
// terminals through `lbha`. None of their control characters may reach the terminal raw: no
// escape sequence, no carriage return, no forged line or table row; JSON keeps the value.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli } from '@lbha/cli';
import { Harness, SEED1 } from '@lbha/coordinator/test-harness';
import { eventually } from '@lbha/test-support';

// Clears the screen, moves the cursor home, forges a row with a carriage return and a newline,
// sets the window title (OSC), a C1 CSI, and a bidi override that reverses what follows.
const HOSTILE = '\u001b[2J\u001b[H\rlb-evil  web  active  connected  healthy\nforged row\u001b]0;pwned\u0007\u009b31m\u202eevil';
// eslint-disable-next-line no-control-regex -- finding raw control characters is the test
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/;

describe('lbha output and hostile strings', () => {
  let h: Harness;

  before(async () => {
    h = await Harness.start();
    await h.applySpec(SEED1);
    // An agent whose every NACK carries the hostile text.
    await h.agent('nginx-lb01', { nack: HOSTILE });
    await h.agent('nginx-lb02');
    await eventually(() => h.server.registry.get('nginx-lb01')?.nackError === HOSTILE, 'the NACK is recorded');
  });
  after(() => h.stop());

  async function lbha(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await runCli([...args, '--insecure', '--coordinator', h.address], { stdout: (s) => (out += s), stderr: (s) => (err += s), env: {} });
    return { code, out, err };
  }

  it('lbha nodes and lbha status show a hostile NACK escaped, one row per node', async () => {
    for (const cmd of ['nodes', 'status']) {
      const r = await lbha(cmd);
      assert.equal(r.code, 0, r.err);
      assert.doesNotMatch(r.out, RAW, `${cmd} printed a raw control character`);
      assert.equal(r.out.trimEnd().split('\n').length, 3, `${cmd}: header and two rows`);
    }
    const nodes = await lbha('nodes');
    assert.match(nodes.out, /NACK: \\x1b\[2J\\x1b\[H\\rlb-evil {2}web {2}active {2}connected {2}healthy\\nforged row\\x1b\]0;pwned\\x07\\x9b31m\\u\{202e\}evil/);
  });

  it('lbha events shows hostile NACKs and reasons escaped, one line per event', async () => {
    const drain = await lbha('drain', 'nginx-lb02', '--reason', `maintenance${HOSTILE}`);
    assert.equal(drain.code, 0, drain.err);
    const r = await lbha('events');
    assert.equal(r.code, 0, r.err);
    assert.doesNotMatch(r.out, RAW);
    const lines = r.out.trimEnd().split('\n');
    assert.ok(lines.every((l) => /^\d{4}-\d\d-\d\dT/.test(l)), 'every line is an event');
    assert.ok(lines.some((l) => /desired_state\.nacked .*\\x1b\[2J/.test(l)));
    assert.ok(lines.some((l) => /reason: maintenance\\x1b\[2J/.test(l)));
  });

  it('--json keeps the exact value, with C1 and bidi characters as \\u escapes', async () => {
    const r = await lbha('nodes', '--json');
    assert.doesNotMatch(r.out, RAW);
    const nodes = (JSON.parse(r.out) as { nodes: Array<{ name: string; nackError: string }> }).nodes;
    assert.equal(nodes.find((n) => n.name === 'nginx-lb01')?.nackError, HOSTILE);
  });

  it('an error message from the coordinator stays one escaped line on stderr', async () => {
    const r = await lbha('operations', `x${HOSTILE}`);
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.err, RAW);
    assert.equal(r.err.split('\n').length, 2, r.err);
  });
});
