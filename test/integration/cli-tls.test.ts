// The real binaries with TLS on: lbha-dev-ca makes the certificates, lbha-coordinator serves
// mutual TLS and tokens, lbha-agent connects with its node certificate, and the lbha CLI works
// with a certificate or a token from flags, environment or its config file.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually, freePort } from '@lbha/test-support';
import { BIN, ROOT } from '../support/paths.js';
import { runNode, startNode, type Proc } from '../support/process.js';

const DEV_CA = join(ROOT, 'packages/coordinator/dist/src/bin/lbha-dev-ca.js');

describe('lbha against a TLS coordinator', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-cli-tls-'));
  const pki = join(dir, 'pki');
  const procs: Proc[] = [];
  let address = '';
  let opsToken = '';
  let viewerToken = '';
  const f = (name: string) => join(pki, name);

  function agentConfig(file: string, node: string, certOf: string): string {
    writeFileSync(
      file,
      `node: ${node}
cluster: web
coordinator: { addresses: ["${address}"], backoff: { initial: 100ms, max: 500ms } }
tls: { ca: ${f('ca.crt')}, cert: ${f(`agent-${certOf}.crt`)}, key: ${f(`agent-${certOf}.key`)} }
stateDir: ${join(dir, `state-${node}-${certOf}`)}
runtimeDir: ${join(dir, `run-${node}-${certOf}`)}
metrics: { listen: "" }
`,
    );
    return file;
  }

  before(async () => {
    const ca = await runNode(DEV_CA, ['--out', pki, '--agent', 'lb1', '--agent', 'lb2', '--operator', 'alice', '--read-only', 'viewer', '--token', 'ops:operator', '--token', 'ro:read-only']);
    assert.equal(ca.code, 0, ca.stderr);
    opsToken = readFileSync(f('token-ops'), 'utf8').trim();
    viewerToken = readFileSync(f('token-ro'), 'utf8').trim();
    // The command prints the auth section for the tokens it made.
    const authSection = ca.stdout.slice(ca.stdout.indexOf('auth:'));
    const port = await freePort();
    address = `127.0.0.1:${port}`;
    writeFileSync(
      join(dir, 'coordinator.yaml'),
      `id: coord-cli-tls
grpc: { listen: ["${address}"] }
tls: { ca: ${f('ca.crt')}, cert: ${f('coordinator.crt')}, key: ${f('coordinator.key')} }
stateDir: ${join(dir, 'coord-state')}
${authSection}`,
    );
    const c = startNode(BIN.coordinator, ['--config', join(dir, 'coordinator.yaml')]);
    procs.push(c);
    await c.waitForLog((l) => l.event === 'coordinator.started');
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  const status = (args: string[], env: NodeJS.ProcessEnv = {}) => runNode(BIN.cli, ['status', '--json', ...args], { HOME: dir, ...env });

  it('works with an operator certificate, a read-only certificate and tokens given as flags', async () => {
    for (const creds of [
      ['--cert', f('operator-alice.crt'), '--key', f('operator-alice.key')],
      ['--cert', f('read-only-viewer.crt'), '--key', f('read-only-viewer.key')],
      ['--token', opsToken],
      ['--token', viewerToken],
    ]) {
      const r = await status(['-C', address, '--ca', f('ca.crt'), ...creds]);
      assert.equal(r.code, 0, `${creds.join(' ')}: ${r.stderr}`);
      assert.ok(Array.isArray((JSON.parse(r.stdout) as { nodes: unknown }).nodes));
    }
  });

  it('takes the coordinator and credentials from the environment and the config file, flags first', async () => {
    const env = await status([], { LBHA_COORDINATOR: address, LBHA_CA: f('ca.crt'), LBHA_TOKEN: opsToken });
    assert.equal(env.code, 0, env.stderr);
    const file = join(dir, 'cli.yaml');
    writeFileSync(file, `coordinator: "${address}"\nca: ${f('ca.crt')}\ntoken: wrong-token\n`, { mode: 0o600 });
    const wrong = await status(['--config', file]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^lbha: UNAUTHENTICATED: unknown bearer token\n$/);
    const flagWins = await status(['--config', file, '--token', opsToken]);
    assert.equal(flagWins.code, 0, flagWins.stderr);
    const envWins = await status(['--config', file], { LBHA_TOKEN: viewerToken });
    assert.equal(envWins.code, 0, envWins.stderr);
  });

  it('exits 1 with one line when credentials are missing or of the wrong role', async () => {
    const none = await status(['-C', address, '--ca', f('ca.crt')]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^lbha: UNAUTHENTICATED: credentials required[^\n]*\n$/);
    const agent = await status(['-C', address, '--ca', f('ca.crt'), '--cert', f('agent-lb1.crt'), '--key', f('agent-lb1.key')]);
    assert.equal(agent.code, 1);
    assert.match(agent.stderr, /^lbha: PERMISSION_DENIED: cert:lb1 has the agent role[^\n]*\n$/);
    const plaintext = await status(['-C', address, '--insecure', '--token', opsToken, '--timeout', '2000']);
    assert.equal(plaintext.code, 1);
    assert.equal(plaintext.stderr.split('\n').length, 2, 'one line');
  });

  it('accepts an agent with its own node certificate and refuses one with another node\'s', async () => {
    const good = startNode(BIN.agent, ['--config', agentConfig(join(dir, 'agent-lb1.yaml'), 'lb1', 'lb1')]);
    procs.push(good);
    await good.waitForLog((l) => l.event === 'stream.connected');
    const listed = await eventually(async () => {
      const r = await status(['-C', address, '--ca', f('ca.crt'), '--token', viewerToken]);
      const nodes = (JSON.parse(r.stdout || '{"nodes":[]}') as { nodes: Array<{ name: string; connected?: boolean }> }).nodes;
      return nodes.find((n) => n.name === 'lb1' && n.connected);
    }, 'lb1 to be listed as connected');
    assert.equal(listed.name, 'lb1');

    // lb2's certificate, claiming to be lb3.
    const impostor = startNode(BIN.agent, ['--config', agentConfig(join(dir, 'agent-lb3.yaml'), 'lb3', 'lb2')]);
    procs.push(impostor);
    const refused = await impostor.waitForLog((l) => l.event === 'stream.error' && l['code'] === 7);
    assert.match(String(refused['details']), /certificate is for node lb2, but the agent claims to be lb3/);
    await impostor.stop();
  });
});
