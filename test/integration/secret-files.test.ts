// Private keys and token files that other users can read are refused with an error naming the
// field (or accepted with a warning when explicitly allowed); a rotated key with loose
// permissions is refused and the previous one stays; the CLI warns about its own.
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadAgentConfig } from '@lbha/agent';
import { runCli } from '@lbha/cli';
import { createDevCa, loadCoordinatorConfig } from '@lbha/coordinator';
import { CertificateSource, ConfigError, type Logger } from '@lbha/shared';

describe('files holding secrets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-secret-files-'));
  let ca: ReturnType<typeof createDevCa>;
  before(() => {
    ca = createDevCa({ dir: join(dir, 'pki'), agents: ['lb1'], operators: ['alice'] });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function looseCopy(file: string, mode: number): string {
    const copy = join(dir, `loose-${mode.toString(8)}-${Math.random().toString(36).slice(2)}.key`);
    copyFileSync(file, copy);
    chmodSync(copy, mode);
    return copy;
  }

  function configError(load: () => unknown): string {
    try {
      load();
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.message;
    }
    return assert.fail('expected a ConfigError');
  }

  it('the coordinator refuses a key others can read, naming tls.key; allowLooseKeyPermissions accepts it', () => {
    const key = looseCopy(ca.coordinator.key, 0o644);
    const file = join(dir, 'coordinator.yaml');
    const write = (extra: string) =>
      writeFileSync(file, `grpc: { listen: ["127.0.0.1:0"] }\ntls:\n  ca: ${ca.ca.cert}\n  cert: ${ca.coordinator.cert}\n  key: ${key}\n${extra}`);
    write('');
    assert.match(configError(() => loadCoordinatorConfig(file)), /tls\.key.*accessible to every user \(mode 0644\); chmod 600 it/);
    write('  allowLooseKeyPermissions: true\n');
    assert.equal((loadCoordinatorConfig(file).tls as { key: string }).key, key);
  });

  it('the agent refuses a group-writable key, naming tls.key', () => {
    const key = looseCopy(ca.agents['lb1']?.key as string, 0o660);
    const file = join(dir, 'agent.yaml');
    writeFileSync(file, `node: lb1\ncluster: web\ncoordinator: { addresses: ["127.0.0.1:1"] }\ntls: { ca: ${ca.ca.cert}, cert: ${ca.agents['lb1']?.cert}, key: ${key} }\nservices: {}\n`);
    assert.match(configError(() => loadAgentConfig(file)), /tls\.key.*writable by its group \(mode 0660\)/);
  });

  it("the etcd client key and a webhook's token file are refused the same way", () => {
    const key = looseCopy(ca.coordinator.key, 0o604);
    const token = join(dir, 'webhook-token');
    writeFileSync(token, 'secret\n', { mode: 0o644 });
    chmodSync(token, 0o644);
    const file = join(dir, 'coordinator-etcd.yaml');
    writeFileSync(
      file,
      [
        'grpc: { listen: ["127.0.0.1:0"] }',
        'tls: { insecure: true }',
        `store: { kind: etcd, endpoints: ["https://127.0.0.1:2379"], tls: { ca: ${ca.ca.cert}, cert: ${ca.coordinator.cert}, key: ${key} } }`,
        `webhooks: [{ name: ops, url: "http://127.0.0.1:9/hook", bearerTokenFile: ${token} }]`,
        '',
      ].join('\n'),
    );
    const message = configError(() => loadCoordinatorConfig(file));
    assert.match(message, /store\.tls\.key.*accessible to every user \(mode 0604\)/);
    assert.match(message, /webhooks\[0\]\.bearerTokenFile.*accessible to every user \(mode 0644\)/);
  });

  it('a rotated key with loose permissions is refused at reload; the previous set stays in force', () => {
    const files = { ca: ca.ca.cert, cert: join(dir, 'rot.crt'), key: join(dir, 'rot.key') };
    copyFileSync(ca.coordinator.cert, files.cert);
    copyFileSync(ca.coordinator.key, files.key);
    chmodSync(files.key, 0o600);
    const errors: string[] = [];
    const logger = { error: (o: { err: string }) => errors.push(o.err), info: () => undefined, warn: () => undefined } as unknown as Logger;
    const source = new CertificateSource(files, { watchIntervalMs: 0, logger });
    try {
      const before = source.current;
      copyFileSync(ca.operators['alice']?.cert as string, files.cert);
      copyFileSync(ca.operators['alice']?.key as string, files.key);
      chmodSync(files.key, 0o644);
      assert.equal(source.reload('test').ok, false);
      assert.equal(source.current, before);
      assert.match(errors.join('\n'), /accessible to every user \(mode 0644\)/);
      chmodSync(files.key, 0o600);
      assert.equal(source.reload('test').ok, true);
      assert.notEqual(source.current, before);
    } finally {
      source.close();
    }
  });

  it('the CLI warns (one line on stderr) about a key others can read, and still runs', async () => {
    const key = looseCopy(ca.operators['alice']?.key as string, 0o644);
    let err = '';
    const code = await runCli(['status', '--coordinator', '127.0.0.1:1', '--timeout', '200', '--ca', ca.ca.cert, '--cert', ca.operators['alice']?.cert as string, '--key', key], {
      stdout: () => undefined,
      stderr: (s) => (err += s),
      env: {},
    });
    assert.equal(code, 1, 'nothing listens there');
    assert.match(err.split('\n')[0] ?? '', /^lbha: warning: .*loose-644.* is accessible to every user \(mode 0644\); chmod 600 it: it holds a secret$/);
  });
});
