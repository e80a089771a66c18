// The two proxy sides of the backend pool against the real daemons on loopback: haproxy through
// its stats socket (drain, the server state file across a reload, applied again after a restart
// that forgot it) and nginx through managed includes (validated, reloaded, refused and taken
// back), each proxying to two small HTTP servers that count the requests they get.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serverKey, silentLogger, type DesiredBackends, type DesiredPool, type ServerIntent } from '@lbha/shared';
import { freePorts, waitFor } from '@lbha/test-support';
import { BackendManager } from '../src/backends/backend-manager.js';
import { HaproxyBackends } from '../src/backends/haproxy-backends.js';
import { NginxBackends } from '../src/backends/nginx-backends.js';
import type { BackendSettings } from '../src/backends/proxy-backends.js';
import { haproxyCommand, showStatServers } from '../src/services/haproxy-stats.js';
import { failed, ok } from '../src/services/service-driver.js';
import { runCommand } from '../src/util/run-command.js';

/** A backend that counts its requests; while held, it answers only once released. */
class Web {
  hits = 0;
  private held: Promise<void> | undefined;
  private server: Server | undefined;
  constructor(readonly port: number) {}
  /** Holds the answers to requests from now on until the returned function is called. */
  hold(): () => void {
    let release = () => {};
    this.held = new Promise((resolve) => (release = resolve));
    return () => {
      this.held = undefined;
      release();
    };
  }
  async start(): Promise<void> {
    this.server = createServer((_req, res) => {
      this.hits++;
      const answer = () => res.end('ok\n');
      if (this.held) void this.held.then(answer);
      else answer();
    });
    await new Promise<void>((resolve) => this.server?.listen(this.port, '127.0.0.1', resolve));
  }
  stop(): void {
    this.server?.closeAllConnections();
    this.server?.close();
  }
}

function get(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

function settings(version: number, intents: ServerIntent[], pools: DesiredPool[] = []): BackendSettings {
  const backends: DesiredBackends = { pools, intents, reportIntervalMs: 60_000, driftIgnore: [], driftFiles: [] };
  return { version, backends, intents: new Map(intents.map((i) => [serverKey(i.pool, i.server), i])) };
}

const has = (bin: string, arg: string) => spawnSync(bin, [arg]).status === 0;

describe('haproxy backends with a real haproxy', { skip: has('haproxy', '-v') ? false : 'haproxy is not installed' }, () => {
  let dir: string;
  let haproxy: ChildProcess | undefined;
  let front = 0;
  let webs: Web[] = [];
  let side: HaproxyBackends;
  const sock = () => join(dir, 'haproxy.sock');
  const stateFile = () => join(dir, 'server-state');
  const query = (c: string) => haproxyCommand(sock(), c, 2000);

  async function start(): Promise<void> {
    haproxy = spawn('haproxy', ['-W', '-db', '-f', join(dir, 'haproxy.cfg')], { stdio: 'ignore' });
    await waitFor('haproxy to answer on its stats socket', async () => ((await query('show info'))?.includes('Pid:') ? { done: true, value: undefined } : { done: false, observed: 'no answer' }));
  }

  async function stop(): Promise<void> {
    const h = haproxy;
    if (!h || h.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      h.once('exit', () => resolve());
      h.kill('SIGTERM');
    });
  }

  const web1Admin = async () => (await query('show servers state webserver'))?.split('\n').find((l) => / web1 /.test(l))?.split(/\s+/)[6];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lbha-haproxy-backends-'));
    const [f, a, b] = await freePorts(3);
    front = f as number;
    webs = [new Web(a as number), new Web(b as number)];
    for (const w of webs) await w.start();
    writeFileSync(
      join(dir, 'haproxy.cfg'),
      `global\n  stats socket ${sock()} mode 600 level admin\n  server-state-file ${stateFile()}\ndefaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n  load-server-state-from-file global\nfrontend www\n  bind 127.0.0.1:${front}\n  default_backend webserver\nbackend webserver\n  balance roundrobin\n  server web1 127.0.0.1:${webs[0]?.port} check inter 500ms\n  server web2 127.0.0.1:${webs[1]?.port} check inter 500ms\n`,
    );
    await start();
    side = new HaproxyBackends({ node: 'lb1', configFile: join(dir, 'haproxy.cfg'), statsSocket: sock(), serverStateFile: stateFile(), query, logger: silentLogger() });
  });

  after(async () => {
    await stop();
    for (const w of webs) w.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('drains a server through the runtime API: no new request reaches it', async () => {
    const r = await side.apply(settings(1, [{ pool: 'webserver', server: 'web1', admin: 'drain' }]));
    assert.deepEqual(r, { ok: true, message: 'set server webserver/web1 state drain' });
    const obs = await side.observe(settings(1, []));
    assert.deepEqual(obs.servers.map((s) => [s.server, s.admin]), [['web1', 'drain'], ['web2', 'ready']]);
    assert.equal(obs.error, '');
    assert.match(obs.config?.digest ?? '', /^[0-9a-f]{64}$/);
    const before = webs[0]?.hits ?? 0;
    for (let i = 0; i < 10; i++) assert.equal(await get(front), 200);
    assert.equal(webs[0]?.hits, before, 'web1 got no request');
    assert.match(readFileSync(stateFile(), 'utf8'), / web1 127\.0\.0\.1 2 8 /, 'the state file says web1 is drained');
  });

  it('a reload starts the new worker with the drain already in force (the server state file)', async () => {
    const pid = (await query('show info'))?.match(/^Pid: (\d+)$/m)?.[1];
    haproxy?.kill('SIGUSR2');
    await waitFor('the new worker to answer', async () => {
      const now = (await query('show info'))?.match(/^Pid: (\d+)$/m)?.[1];
      return now && now !== pid ? { done: true, value: undefined } : { done: false, observed: `pid ${now}` };
    });
    // Nothing applied it since: the new worker loaded it.
    assert.equal(await web1Admin(), '8');
  });

  it('a restart that forgot the drain gets it again from the manager', async () => {
    await stop();
    rmSync(stateFile(), { force: true });
    await start();
    assert.equal(await web1Admin(), '0', 'without its state file, haproxy starts web1 ready');
    const manager = new BackendManager({ service: 'haproxy', proxy: side, logger: silentLogger(), now: Date.now, onReport: () => undefined });
    (manager as unknown as { settings: BackendSettings }).settings = settings(1, [{ pool: 'webserver', server: 'web1', admin: 'drain' }]);
    manager.proxyCycled();
    await manager.idle();
    manager.stop();
    assert.equal(await web1Admin(), '8');
    assert.equal(manager.report?.appliedVersion, 1);
  });

  it("reports how long haproxy may take to send to a server again once it answers (inter 500ms, rise 2: 1 s), from its own stats and configuration", async (t) => {
    const obs = await side.observe(settings(1, []));
    assert.equal(obs.readmitMs, 1_000);
    // The drift settings leave statements out of the digest, never out of what haproxy runs.
    const plain = settings(1, []);
    const ignoring = await side.observe({ ...plain, backends: { ...plain.backends, driftIgnore: ['server'] } });
    assert.notEqual(ignoring.config?.digest, obs.config?.digest, 'the server lines are out of the digest');
    assert.equal(ignoring.readmitMs, 1_000, 'and still in the check intervals');
    // web2 goes away until haproxy has marked it DOWN with its health counter at 0, then answers again.
    const stat = async () => {
      const { columns, rows } = showStatServers((await query('show stat')) ?? '');
      const f = rows.get('webserver/web2') ?? [];
      return { status: f[columns.indexOf('status')], health: f[columns.indexOf('check_health')] };
    };
    webs[1]?.stop();
    await waitFor('web2 DOWN, health 0', async () => {
      const s = await stat();
      return s.status === 'DOWN' && s.health === '0' ? { done: true, value: undefined } : { done: false, observed: JSON.stringify(s) };
    }, { timeoutMs: 10_000, intervalMs: 20 });
    const back = Date.now();
    await webs[1]?.start();
    await waitFor('web2 UP again', async () => ((await stat()).status === 'UP' ? { done: true, value: undefined } : { done: false, observed: JSON.stringify(await stat()) }), { timeoutMs: 10_000, intervalMs: 20 });
    const tookMs = Date.now() - back;
    t.diagnostic(`web2 UP again ${tookMs} ms after it answered (at most downinter + (rise - 1) x fastinter = ${obs.readmitMs} ms, plus the polling)`);
    // Two good checks, fastinter apart: never sooner than that, whatever the load.
    assert.ok(tookMs >= 500, `UP after ${tookMs} ms: sooner than two checks 500 ms apart`);
  });

  it('says so when haproxy runs no such server, and changes nothing', async () => {
    const r = await side.apply(settings(2, [{ pool: 'webserver', server: 'web9', admin: 'maint' }]));
    assert.deepEqual(r, { ok: false, error: 'haproxy runs no server webserver/web9' });
  });
});

describe('nginx backends with a real nginx', { skip: has('nginx', '-v') ? false : 'nginx is not installed' }, () => {
  let dir: string;
  let nginx: ChildProcess | undefined;
  let front = 0;
  let webs: Web[] = [];
  let side: NginxBackends;
  let pool: DesiredPool;
  const conf = () => join(dir, 'nginx.conf');
  const args = () => ['-c', conf(), '-e', join(dir, 'error.log')];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lbha-nginx-backends-'));
    mkdirSync(join(dir, 'upstreams'));
    const [f, a, b] = await freePorts(3);
    front = f as number;
    webs = [new Web(a as number), new Web(b as number)];
    for (const w of webs) await w.start();
    pool = {
      name: 'webserver',
      servers: webs.map((w, i) => ({ name: `web${i + 1}`, address: `127.0.0.1:${w.port}`, weight: 0, maxFails: null, failTimeoutMs: null, maxConns: 0, backup: false })),
    };
    writeFileSync(
      conf(),
      `worker_processes 1;\nerror_log ${dir}/error.log;\npid ${dir}/nginx.pid;\nevents { worker_connections 64; }\nhttp {\n  access_log off;\n  client_body_temp_path ${dir};\n  proxy_temp_path ${dir};\n  upstream webserver { include ${dir}/upstreams/webserver.conf; keepalive 4; }\n  upstream hashed { hash $remote_addr; include ${dir}/upstreams/hashed.conf; }\n  server {\n    listen 127.0.0.1:${front};\n    location / { proxy_pass http://webserver; proxy_http_version 1.1; proxy_set_header Connection ""; }\n    location /h { proxy_pass http://hashed; }\n  }\n}\n`,
    );
    let started = false;
    side = new NginxBackends({
      node: 'lb1',
      binary: 'nginx',
      dumpArgs: ['-T', ...args()],
      upstreamsDir: join(dir, 'upstreams'),
      procNet: '/proc/net',
      run: runCommand,
      reload: async () => {
        const t = await runCommand('nginx', ['-t', ...args()]);
        if (t.exitCode !== 0) return failed(`nginx config does not validate; not reloaded: ${t.output}`);
        await runCommand('nginx', ['-s', 'reload', ...args()]);
        return ok('nginx reloaded');
      },
      running: () => started,
      masterPid: () => (existsSync(join(dir, 'nginx.pid')) ? Number(readFileSync(join(dir, 'nginx.pid'), 'utf8')) : 0),
      startNow: () => undefined,
      now: Date.now,
    });
    // The includes come first: nginx cannot start without them.
    const first = await side.apply(settings(1, [], [pool, { ...pool, name: 'hashed' }]));
    assert.equal(first.ok, true);
    nginx = spawn('nginx', [...args(), '-g', 'daemon off;'], { stdio: 'ignore' });
    started = true;
    await waitFor('nginx to answer', async () => ((await get(front)) === 200 ? { done: true, value: undefined } : { done: false, observed: 'no answer' }));
  });

  after(async () => {
    const n = nginx;
    if (n && n.exitCode === null) {
      await new Promise<void>((resolve) => {
        n.once('exit', () => resolve());
        n.kill('SIGTERM');
      });
    }
    for (const w of webs) w.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the upstream servers of the running configuration, named as the spec names them', async () => {
    const obs = await side.observe(settings(1, [], [pool]));
    assert.equal(obs.error, '');
    assert.deepEqual(
      obs.servers.filter((s) => s.pool === 'webserver').map((s) => [s.server, s.admin, s.managed]),
      [['web1', 'ready', true], ['web2', 'ready', true]],
    );
  });

  it('drains a server with a validated reload: once applied, no new request reaches it', async () => {
    const drain = settings(2, [{ pool: 'webserver', server: 'web1', admin: 'drain' }], [pool, { ...pool, name: 'hashed' }]);
    const r = await side.apply(drain);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.match(r.ok ? r.message : '', /nginx reloaded \(in force\)/);
    const before = webs[0]?.hits ?? 0;
    for (let i = 0; i < 10; i++) assert.equal(await get(front), 200);
    assert.equal(webs[0]?.hits, before, 'web1 got no request after the apply');
    const obs = await side.observe(drain);
    assert.deepEqual(obs.servers.filter((s) => s.pool === 'webserver').map((s) => [s.server, s.admin]), [['web1', 'drain'], ['web2', 'ready']]);
  });

  it('counts a server\'s sessions from the socket table', async () => {
    // web2 holds its answer until the session was seen: however slow the machine, the session
    // is open while the test looks for it.
    const release = (webs[1] as Web).hold();
    const pending = get(front);
    const obs = await waitFor('a session to web2', async () => {
      const o = await side.observe(settings(2, [{ pool: 'webserver', server: 'web1', admin: 'drain' }], [pool]));
      const s = o.servers.find((x) => x.pool === 'webserver' && x.server === 'web2');
      return s && s.sessions > 0 ? { done: true, value: s } : { done: false, observed: `${s?.sessions}` };
    });
    release();
    assert.ok(obs.sessions >= 1);
    assert.equal(await pending, 200);
  });

  it('takes back an include nginx refuses, and says why', async () => {
    const path = join(dir, 'upstreams', 'hashed.conf');
    const before = readFileSync(path, 'utf8');
    const backup = { ...pool, name: 'hashed', servers: pool.servers.map((s, i) => ({ ...s, backup: i === 1 })) };
    const r = await side.apply(settings(3, [], [pool, backup]));
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.error, /backup/);
    assert.equal(readFileSync(path, 'utf8'), before, 'the refused include was taken back');
    assert.equal(await get(front), 200, 'nginx still serves');
  });
});
