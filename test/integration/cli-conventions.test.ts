// The command-line conventions of the three programs, on the real binaries: --version, offline
// checks (`lbha spec validate`, `--check`), shell completion, a closed pipe, SIGHUP reloads, and
// the spec's nodes listed before their agents connect.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, ROOT } from '../support/paths.js';
import { eventually, freePort } from '@lbha/test-support';
import { runNode, startNode, type Proc } from '../support/process.js';

const EXAMPLES = join(ROOT, 'deploy/examples');
const SPEC = join(EXAMPLES, 'nginx-active-active/cluster-recommended.yaml');
const hasZsh = (() => {
  try {
    execFileSync('zsh', ['-c', 'true']);
    return true;
  } catch {
    return false;
  }
})();

describe('command-line conventions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-conv-'));
  // No ~/.config/lbha/cli.yaml (and the test runs without LBHA_* variables): nothing says where a coordinator is.
  const env = { HOME: dir };
  const procs: Proc[] = [];

  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('--version on every program names the release and the runtime', async () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    for (const [bin, name] of [[BIN.cli, 'lbha'], [BIN.agent, 'lbha-agent'], [BIN.coordinator, 'lbha-coordinator'], [join(ROOT, 'packages/coordinator/dist/src/bin/lbha-dev-ca.js'), 'lbha-dev-ca'], [join(ROOT, 'packages/coordinator/dist/src/bin/lbha-probe.js'), 'lbha-probe']] as const) {
      const r = await runNode(bin, ['--version'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${name} ${version} (Node.js ${process.versions.node})\n`);
    }
  });

  it('lbha spec validate works without a coordinator', async () => {
    const ok = await runNode(BIN.cli, ['spec', 'validate', SPEC], env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /is valid: 1 cluster, 2 VIPs \(/);
    assert.equal(ok.stderr, '', 'the recommended example has nothing to warn of');
    const bad = join(dir, 'dup.yaml');
    writeFileSync(bad, readFileSync(SPEC, 'utf8').replace('vrid: 52', 'vrid: 51'));
    const r = await runNode(BIN.cli, ['spec', 'validate', bad], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^${bad.replace(/\//g, '\\/')}:\\d+:\\d+: clusters\\[0\\]\\.vips\\[1\\]\\.vrid: VRID 51 is already used`, 'm'));
    const json = await runNode(BIN.cli, ['spec', 'validate', bad, '--json'], env);
    assert.equal((JSON.parse(json.stdout) as { valid: boolean }).valid, false);
    // Commands that need a coordinator still say so.
    const status = await runNode(BIN.cli, ['status'], env);
    assert.equal(status.code, 2);
    assert.match(status.stderr, /no TLS CA given/);
  });

  it('lbha-agent --check and lbha-coordinator --check validate without starting', async () => {
    const agentOk = join(dir, 'agent.yaml');
    writeFileSync(agentOk, `node: lb1\ncluster: web\ncoordinator: { addresses: ["127.0.0.1:1"] }\ntls: { insecure: true }\n`);
    const a = await runNode(BIN.agent, ['--check', '--config', agentOk], env);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, `${agentOk}: valid (node lb1, cluster web)\n`);
    const missing = await runNode(BIN.agent, ['--check', '--config', join(EXAMPLES, 'agent.yaml')], env);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /tls: ENOENT: no such file or directory, open '\/etc\/lbha\/tls\/ca\.crt'/);
    const badAgent = join(dir, 'bad-agent.yaml');
    writeFileSync(badAgent, 'node: lb1\n');
    assert.equal((await runNode(BIN.agent, ['--check', '--config', badAgent], env)).code, 2);

    const spec = join(dir, 'broken-spec.yaml');
    writeFileSync(spec, readFileSync(SPEC, 'utf8').replace('vrid: 52', 'vrid: 51'));
    const coord = join(dir, 'coordinator.yaml');
    writeFileSync(coord, `grpc: { listen: ["127.0.0.1:0"] }\ntls: { insecure: true }\nspec: ${spec}\nstateDir: ${dir}/state\n`);
    const c = await runNode(BIN.coordinator, ['--check', '--config', coord], env);
    assert.equal(c.code, 2);
    assert.match(c.stderr, /broken-spec\.yaml:\d+:\d+: clusters\[0\]\.vips\[1\]\.vrid: VRID 51 is already used/);
    writeFileSync(spec, readFileSync(SPEC, 'utf8'));
    const good = await runNode(BIN.coordinator, ['--check', '--config', coord], env);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /valid \(spec .* valid\)/);
  });

  it('bash completion completes commands, subcommands, flags and files', async () => {
    const script = (await runNode(BIN.cli, ['completion', 'bash'], env)).stdout;
    const file = join(dir, 'lbha.bash');
    writeFileSync(file, script);
    const complete = (...words: string[]): string[] => {
      // COMP_WORDS as bash fills it; the last word is the one being completed.
      const out = execFileSync('bash', ['-c', 'source "$0"; COMP_WORDS=("${@}"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); _lbha; printf "%s\\n" "${COMPREPLY[@]}"', file, 'lbha', ...words], { cwd: dir, encoding: 'utf8' });
      return out.split('\n').filter(Boolean);
    };
    assert.deepEqual(complete('sp'), ['spec']);
    assert.deepEqual(complete('spec', 'va'), ['validate']);
    assert.deepEqual(complete('drain', '--ti'), ['--timeout']);
    assert.deepEqual(complete('completion', 'z'), ['zsh']);
    assert.deepEqual(complete('completion', '').slice(0, 2), ['bash', 'zsh']);
    assert.ok(complete('--ca', 'lbha.b').includes('lbha.bash'), 'file names after --ca');
    assert.ok(complete('').includes('rolling-restart'));
  });

  it('the zsh completion script parses', { skip: hasZsh ? undefined : 'zsh is not installed' }, async () => {
    const file = join(dir, '_lbha');
    writeFileSync(file, (await runNode(BIN.cli, ['completion', 'zsh'], env)).stdout);
    execFileSync('zsh', ['-n', file]);
    const out = execFileSync('zsh', ['-c', 'autoload -U compinit && compinit -u -D && source "$0" && print -r -- ${+functions[_lbha]}', file], { encoding: 'utf8', env: { ...process.env, HOME: dir } });
    assert.equal(out.trim(), '1');
  });

  it('a closed pipe ends lbha quietly', async () => {
    const child = spawn(process.execPath, [BIN.cli, 'completion', 'zsh'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    // The reader goes away before lbha writes: its first write meets EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.equal(stderr, '');
    assert.equal(code, 0);
  });

  describe('a coordinator with a spec and no agent yet', () => {
    let address = '';
    let coordinator: Proc;
    let config = '';
    before(async () => {
      address = `127.0.0.1:${await freePort()}`;
      config = join(dir, 'c.yaml');
      writeFileSync(config, `grpc: { listen: ["${address}"] }\ntls: { insecure: true }\nauth: { anonymous: read-only }\nspec: ${SPEC}\nstateDir: ${dir}/c\n`);
      coordinator = startNode(BIN.coordinator, ['--config', config]);
      procs.push(coordinator);
      await coordinator.waitForLog((l) => l.event === 'coordinator.started');
    });

    it('lbha status lists the spec\'s nodes as disconnected', async () => {
      const r = await eventually(async () => {
        const x = await runNode(BIN.cli, ['status', '--insecure', '-C', address], env);
        return x.stdout.includes('nginx-lb02') ? x : undefined;
      }, 'both nodes listed');
      const rows = r.stdout.trim().split('\n').slice(1);
      assert.deepEqual(rows.map((l) => l.split(/\s+/).slice(0, 3)), [['nginx-lb01', 'web', 'disconnected'], ['nginx-lb02', 'web', 'disconnected']]);
    });

    it('SIGHUP re-reads the configuration: applies log level and webhooks, names what needs a restart, refuses a broken file', async () => {
      const original = readFileSync(config, 'utf8');
      writeFileSync(config, `${original.replace('stateDir:', 'heartbeat: { interval: 2s, staleAfter: 7s }\nstateDir:')}log: { level: debug }\nwebhooks: [{ name: ops, url: "http://127.0.0.1:9/hook" }]\n`);
      coordinator.kill('SIGHUP');
      const line = await coordinator.waitForLog((l) => l.event === 'config.reloaded');
      assert.deepEqual(line['applied'], ['log.level', 'webhooks']);
      assert.deepEqual(line['needRestart'], ['heartbeat']);
      writeFileSync(config, `${original}bogus: true\n`);
      coordinator.kill('SIGHUP');
      const refused = await coordinator.waitForLog((l) => l.event === 'config.reload_refused');
      assert.match(String(refused['reason']), /bogus/);
      // Still serving.
      const r = await runNode(BIN.cli, ['status', '--insecure', '-C', address], env);
      assert.equal(r.code, 0, r.stderr);
      writeFileSync(config, original);
    });

    it('SIGHUP swaps the tokens: a removed one is refused from the next call, a new one works', async () => {
      const original = readFileSync(config, 'utf8');
      const sha = (t: string) => createHash('sha256').update(t).digest('hex');
      const withToken = (name: string, token: string) =>
        original.replace('auth: { anonymous: read-only }', `auth: { anonymous: none, tokens: [{ name: ${name}, role: read-only, sha256: ${sha(token)} }] }`);
      const nodes = (token: string) => runNode(BIN.cli, ['nodes', '--insecure', '-C', address, '--token', token], env);
      writeFileSync(config, withToken('first', 'first-token-0123456789'));
      coordinator.kill('SIGHUP');
      await eventually(async () => (await nodes('first-token-0123456789')).code === 0, 'the first token works');
      writeFileSync(config, withToken('second', 'second-token-0123456789'));
      coordinator.kill('SIGHUP');
      await eventually(async () => (await nodes('second-token-0123456789')).code === 0, 'the new token works');
      const old = await nodes('first-token-0123456789');
      assert.notEqual(old.code, 0);
      assert.match(old.stderr, /UNAUTHENTICATED/);
      writeFileSync(config, original);
      coordinator.kill('SIGHUP');
      await eventually(async () => (await runNode(BIN.cli, ['nodes', '--insecure', '-C', address], env)).code === 0, 'anonymous readers again');
    });
  });
});
