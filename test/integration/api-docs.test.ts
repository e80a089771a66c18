// Runs every `sh` example of docs/api.md, in order, against a real coordinator with TLS, tokens,
// the HTTP API and the seed spec, so the documentation cannot drift from the API. A block's
// `# expect: STATUS` (or `# expect: exit N`) line states what its first curl answers (or how the
// block exits); every other curl in the documentation must answer below 400.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, WAIT_BOUND_MS } from '@lbha/test-support';
import { BIN, ROOT } from '../support/paths.js';
import { runNode, startNode, type Proc } from '../support/process.js';

const DEV_CA = join(ROOT, 'packages/coordinator/dist/src/bin/lbha-dev-ca.js');

interface Example {
  readonly line: number;
  readonly code: string;
  readonly expect: { readonly status?: number; readonly exit?: number };
}

function examples(markdown: string): Example[] {
  const out: Example[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]?.trim() !== '```sh') continue;
    const start = i + 1;
    const body: string[] = [];
    for (i = start; i < lines.length && lines[i]?.trim() !== '```'; i++) body.push(lines[i] as string);
    const code = body.map((l) => l.replace(/^ {2}/, '')).join('\n');
    const m = /^# expect: (?:exit (\d+)|(\d{3}))$/m.exec(code);
    out.push({ line: start, code, expect: m ? (m[1] !== undefined ? { exit: Number(m[1]) } : { status: Number(m[2]) }) : {} });
  }
  return out;
}

function run(code: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ exit: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-eu', '-c', code], { cwd, env, timeout: WAIT_BOUND_MS }, (err, stdout, stderr) => {
      const exit = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ exit, stdout, stderr });
    });
  });
}

describe('docs/api.md examples', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-api-docs-'));
  const pki = join(dir, 'pki');
  const work = join(dir, 'work');
  const shims = join(dir, 'bin');
  const procs: Proc[] = [];
  let env: NodeJS.ProcessEnv = {};

  before(async () => {
    mkdirSync(work);
    mkdirSync(shims);
    const ca = await runNode(DEV_CA, ['--out', pki, '--operator', 'alice', '--read-only', 'viewer', '--token', 'ops:operator', '--token', 'ro:read-only']);
    assert.equal(ca.code, 0, ca.stderr);
    copyFileSync(join(ROOT, 'packages/coordinator/test/fixtures/seed-nginx-active-active.yaml'), join(work, 'cluster.yaml'));
    const grpcPort = await freePort();
    const httpPort = await freePort();
    writeFileSync(
      join(dir, 'coordinator.yaml'),
      `id: coord-docs
grpc: { listen: ["127.0.0.1:${grpcPort}"] }
http: { listen: "127.0.0.1:${httpPort}" }
tls: { ca: ${pki}/ca.crt, cert: ${pki}/coordinator.crt, key: ${pki}/coordinator.key }
stateDir: ${join(dir, 'state')}
spec: ${join(work, 'cluster.yaml')}
${ca.stdout.slice(ca.stdout.indexOf('auth:'))}`,
    );
    const c = startNode(BIN.coordinator, ['--config', join(dir, 'coordinator.yaml')]);
    procs.push(c);
    await c.waitForLog((l) => l.event === 'coordinator.started');

    // curl reports each status on stderr (so redirected output stays clean); lbha is the built CLI.
    const realCurl = ['/usr/bin/curl', '/bin/curl'].find((p) => {
      try {
        readFileSync(p);
        return true;
      } catch {
        return false;
      }
    });
    assert.ok(realCurl, 'curl is installed');
    writeFileSync(join(shims, 'curl'), `#!/bin/sh\nexec ${realCurl} "$@" -w '%{stderr}@@status=%{http_code}\\n'\n`);
    writeFileSync(join(shims, 'lbha'), `#!/bin/sh\nexec ${process.execPath} ${BIN.cli} "$@"\n`);
    chmodSync(join(shims, 'curl'), 0o755);
    chmodSync(join(shims, 'lbha'), 0o755);
    env = {
      PATH: `${shims}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
      HOME: dir,
      LBHA_URL: `https://127.0.0.1:${httpPort}`,
      LBHA_COORDINATOR: `127.0.0.1:${grpcPort}`,
      LBHA_CA: join(pki, 'ca.crt'),
      LBHA_TOKEN: readFileSync(join(pki, 'token-ops'), 'utf8').trim(),
      LBHA_RO_TOKEN: readFileSync(join(pki, 'token-ro'), 'utf8').trim(),
      LBHA_CERT: join(pki, 'operator-alice.crt'),
      LBHA_KEY: join(pki, 'operator-alice.key'),
    };
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('every example runs and answers as documented', async () => {
    const all = examples(readFileSync(join(ROOT, 'docs/api.md'), 'utf8'));
    assert.ok(all.length >= 15, `found ${all.length} examples`);
    for (const ex of all) {
      const r = await run(ex.code, work, env);
      const where = `docs/api.md:${ex.line}\n${ex.code}\n--- stdout\n${r.stdout.slice(0, 2000)}\n--- stderr\n${r.stderr.slice(0, 2000)}`;
      assert.equal(r.exit, ex.expect.exit ?? 0, `exit code of ${where}`);
      const statuses = [...r.stderr.matchAll(/@@status=(\d{3})/g)].map((m) => Number(m[1]));
      if (ex.expect.status !== undefined) {
        assert.equal(statuses[0], ex.expect.status, `status of ${where}`);
        if (ex.expect.status >= 400) assert.match(r.stdout, /"error":\{"code":"[A-Z_]+","message":/, `error body of ${where}`);
      }
      for (const s of statuses.slice(ex.expect.status !== undefined ? 1 : 0)) assert.ok(s < 400, `status ${s} of ${where}`);
    }
  });
});
