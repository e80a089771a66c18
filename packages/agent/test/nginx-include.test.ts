// The managed nginx include: rendered text against golden files, and every golden file put in an
// upstream block of a real configuration and checked by the real `nginx -t`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { serverKey, type DesiredPool, type ServerIntent } from '@lbha/shared';
import { renderUpstreamInclude } from '../src/backends/nginx-include.js';

const GOLDEN = new URL('../../test/golden/nginx/', import.meta.url);

const POOL: DesiredPool = {
  name: 'webserver',
  servers: [
    { name: 'web1', address: '192.168.50.22:80', weight: 0, maxFails: 3, failTimeoutMs: 5000, maxConns: 0, backup: false },
    // max_fails=0: never marked failed; rendered, not left to nginx's default of 1.
    { name: 'web2', address: '192.168.50.23:80', weight: 2, maxFails: 0, failTimeoutMs: 2000, maxConns: 100, backup: false },
    // Neither set: nginx's defaults (1, 10s), nothing rendered.
    { name: 'web3', address: '[2001:db8::3]:8080', weight: 0, maxFails: null, failTimeoutMs: null, maxConns: 0, backup: true },
    // fail_timeout=0s: rendered as it is.
    { name: 'web4', address: '192.168.50.24:80', weight: 0, maxFails: 1, failTimeoutMs: 0, maxConns: 0, backup: false },
  ],
};

const intents = (...list: ServerIntent[]) => new Map(list.map((i) => [serverKey(i.pool, i.server), i]));

const CASES: ReadonlyArray<readonly [string, ReadonlyMap<string, ServerIntent>]> = [
  ['all-ready', intents()],
  ['web1-drained', intents({ pool: 'webserver', server: 'web1', admin: 'drain' })],
  ['web2-disabled-web1-weighted', intents({ pool: 'webserver', server: 'web2', admin: 'maint' }, { pool: 'webserver', server: 'web1', admin: 'ready', weight: 5 })],
];

describe('nginx managed include rendering', () => {
  for (const [name, i] of CASES) {
    it(`matches golden file ${name}.conf`, () => {
      const text = renderUpstreamInclude(POOL, i);
      const file = new URL(`${name}.conf`, GOLDEN);
      if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(file, text);
      assert.equal(text, readFileSync(file, 'utf8'));
    });
  }

  it('renders max_fails and fail_timeout when the spec sets them, 0 included, and nothing when it does not', () => {
    const lines = renderUpstreamInclude(POOL, intents()).split('\n');
    const of = (name: string) => lines.find((l) => l.endsWith(`# ${name}`)) ?? '';
    assert.match(of('web2'), / max_fails=0 fail_timeout=2s /);
    assert.doesNotMatch(of('web3'), /max_fails|fail_timeout/);
    assert.match(of('web4'), / max_fails=1 fail_timeout=0s;/);
  });

  it('marks a drained or disabled server down and nothing else', () => {
    const text = renderUpstreamInclude(POOL, intents({ pool: 'webserver', server: 'web1', admin: 'drain' }));
    assert.deepEqual(text.split('\n').filter((l) => / down;/.test(l)).map((l) => l.split(' ')[1]), ['192.168.50.22:80']);
    // An intent for another pool changes nothing here.
    assert.equal(renderUpstreamInclude(POOL, intents({ pool: 'other', server: 'web1', admin: 'drain' })), renderUpstreamInclude(POOL, intents()));
  });
});

const hasNginx = spawnSync('nginx', ['-v']).status === 0;

describe('nginx -t on the golden includes', { skip: hasNginx ? false : 'nginx is not installed' }, () => {
  let dir: string;
  const files = readdirSync(GOLDEN).filter((f) => f.endsWith('.conf'));

  /** nginx -t on a configuration whose upstream includes `include` (and uses `balance`). */
  function nginxTest(include: string, balance = ''): { status: number | null; output: string } {
    writeFileSync(
      join(dir, 'nginx.conf'),
      `error_log ${dir}/error.log;\npid ${dir}/nginx.pid;\nevents { worker_connections 64; }\nhttp {\n  access_log off;\n  upstream webserver {\n    ${balance}\n    include ${include};\n    keepalive 8;\n  }\n  server { listen 127.0.0.1:18199; location / { proxy_pass http://webserver; } }\n}\n`,
    );
    const r = spawnSync('nginx', ['-t', '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { encoding: 'utf8' });
    return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
  }

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lbha-nginx-include-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('has golden includes to test', () => assert.ok(files.length >= 3));

  for (const f of files) {
    it(`${f} passes nginx -t`, () => {
      const r = nginxTest(fileURLToPath(new URL(f, GOLDEN)));
      assert.equal(r.status, 0, r.output);
    });
  }

  it('fails when nginx refuses the servers (the test is not vacuous): backup under hash balancing', () => {
    const r = nginxTest(fileURLToPath(new URL('all-ready.conf', GOLDEN)), 'hash $remote_addr;');
    assert.notEqual(r.status, 0);
    assert.match(r.output, /backup/);
  });
});
