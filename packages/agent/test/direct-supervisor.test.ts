// The direct supervisor against a real nginx on 127.0.0.1: start, crash (SIGKILL), restart,
// adoption by a new supervisor (an agent restart), validation before reload and restart.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '@lbha/shared';
import { eventually, freePort } from '@lbha/test-support';
import { haproxySpec, nginxSpec } from '../src/services/daemon-spec.js';
import { fetchHaproxyStats } from '../src/services/haproxy-stats.js';
import { DirectSupervisor } from '../src/services/direct-supervisor.js';
import { processTree } from '../src/services/listen-queue.js';
import { isAlive, readProcStat } from '../src/services/proc.js';
import type { ExitInfo } from '../src/services/service-driver.js';
import { runCommand } from '../src/util/run-command.js';

const hasNginx = spawnSync('/usr/sbin/nginx', ['-v']).status === 0;
const isRoot = process.getuid?.() === 0;

function fetchText(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** A file nginx sends at 200 KB/s: about 1.5 s, a request in flight across a crash. */
const BIG_BYTES = 300 * 1024;

/** GETs /big; the bytes received, and how the response ended ('end' or the error). */
function download(port: number): Promise<{ bytes: number; end: string }> {
  return new Promise((resolve) => {
    get({ host: '127.0.0.1', port, path: '/big', agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ bytes, end: 'end' }));
      res.on('error', (e) => resolve({ bytes, end: e.message }));
    }).on('error', (e) => resolve({ bytes: 0, end: e.message }));
  });
}

function conf(dir: string, port: number, text: string): string {
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log notice;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/t1; proxy_temp_path ${dir}/t2; fastcgi_temp_path ${dir}/t3; uwsgi_temp_path ${dir}/t4; scgi_temp_path ${dir}/t5;
  server { listen 127.0.0.1:${port}; root ${dir}/www; location / { return 200 "${text}"; } location /big { limit_rate 200k; } }
}
`;
}

describe('direct supervisor with a real nginx', { skip: !hasNginx ? 'nginx is not installed' : !isRoot ? 'needs root' : false }, () => {
  let dir: string;
  let port: number;
  let configFile: string;
  const supervisors: DirectSupervisor[] = [];

  const supervisor = (): DirectSupervisor => {
    const s = new DirectSupervisor({
      name: 'nginx',
      spec: nginxSpec({ binary: '/usr/sbin/nginx', configFile, prefix: '', errorLog: join(dir, 'error.log') }),
      pidFile: join(dir, 'nginx.agent-pid'),
      logFile: join(dir, 'nginx.out'),
      startupMs: 150,
      stopTimeoutMs: 5_000,
      pollMs: 50,
      run: runCommand,
      stats: async () => undefined,
      logger: silentLogger(),
    });
    supervisors.push(s);
    return s;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lbha-nginx-'));
    port = await freePort();
    configFile = join(dir, 'nginx.conf');
    // nginx's workers run as nobody: the file they send must be theirs to read.
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'www'));
    writeFileSync(join(dir, 'www', 'big'), Buffer.alloc(BIG_BYTES, 0x61), { mode: 0o644 });
    writeFileSync(configFile, conf(dir, port, 'one'));
  });

  after(async () => {
    for (const s of supervisors) {
      await s.stop().catch(() => undefined);
      s.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts nginx in the foreground, detached, and records pid and start time', async () => {
    const s = supervisor();
    const r = await s.start();
    assert.equal(r.ok, true, r.message);
    assert.equal(await fetchText(port), 'one');
    const rec = JSON.parse(readFileSync(join(dir, 'nginx.agent-pid'), 'utf8')) as { pid: number; startTime: string };
    assert.equal(rec.pid, s.status().pid);
    assert.ok(rec.startTime.length > 0);
  });

  it('reports a crash, and a new nginx can bind again (workers of the killed master are gone)', async () => {
    const s = supervisors[0]!;
    const exits: ExitInfo[] = [];
    s.onExit((i) => exits.push(i));
    const pid = s.status().pid;
    process.kill(pid, 'SIGKILL');
    await eventually(() => exits.length === 1);
    assert.equal(exits[0]?.signal, 'SIGKILL');
    assert.equal(s.status().running, false);
    const r = await s.start();
    assert.equal(r.ok, true, r.message);
    assert.notEqual(s.status().pid, pid);
    assert.equal(await fetchText(port), 'one');
  });

  it('after a crash of the master, lets its worker finish the request it serves while a new nginx binds', async () => {
    const s = supervisors[0]!;
    const exits: ExitInfo[] = [];
    s.onExit((i) => exits.push(i));
    const pid = s.status().pid;
    const inFlight = download(port);
    await new Promise((r) => setTimeout(r, 200));
    process.kill(pid, 'SIGKILL');
    await eventually(() => exits.length === 1);
    const r = await s.start();
    assert.equal(r.ok, true, r.message);
    assert.notEqual(s.status().pid, pid);
    assert.equal(await fetchText(port), 'one', 'the new nginx serves');
    assert.deepEqual(await inFlight, { bytes: BIG_BYTES, end: 'end' }, 'the old worker finished the download instead of resetting it');
  });

  it('after a crash of the master, kills a worker that does not close its listener (stopped), so a new nginx binds', async () => {
    const s = supervisors[0]!;
    const exits: ExitInfo[] = [];
    s.onExit((i) => exits.push(i));
    const pid = s.status().pid;
    const workers = processTree(pid).slice(1);
    assert.ok(workers.length > 0, 'nginx has a worker');
    for (const w of workers) process.kill(w, 'SIGSTOP');
    process.kill(pid, 'SIGKILL');
    await eventually(() => exits.length === 1);
    const r = await s.start();
    assert.equal(r.ok, true, r.message);
    assert.equal(await fetchText(port), 'one', 'the new nginx serves');
    await eventually(() => workers.every((w) => !isAlive(w)), 'the stopped worker killed');
  });

  it('is adopted by a new supervisor after an agent restart, which then sees it die', async () => {
    const old = supervisors[0]!;
    const pid = old.status().pid;
    old.close();
    const s = supervisor();
    assert.equal(await s.adopt(), true);
    assert.equal(s.status().pid, pid, 'the same nginx, not a new one');
    const exits: ExitInfo[] = [];
    s.onExit((i) => exits.push(i));
    process.kill(pid, 'SIGTERM');
    await eventually(() => exits.length === 1, 'exit of an adopted daemon (found by polling /proc)');
    assert.equal(await s.adopt(), false, 'nothing left to adopt');
    assert.equal((await s.start()).ok, true);
  });

  it('never reloads or restarts on a config that fails nginx -t, and says why', async () => {
    const s = supervisors.at(-1)!;
    const pid = s.status().pid;
    writeFileSync(configFile, 'broken {\n');
    const v = await s.validate();
    assert.equal(v.ok, false);
    assert.match(v.output, /unknown directive "broken"/);
    const reload = await s.reload();
    assert.equal(reload.ok, false);
    assert.match(reload.message, /nginx config does not validate; not reloaded: .*unknown directive "broken"/);
    const restart = await s.restart();
    assert.equal(restart.ok, false);
    assert.equal(s.status().pid, pid, 'still the same nginx');
    assert.equal(await fetchText(port), 'one');
  });

  it('reloads a valid config with SIGHUP, and stops gracefully', async () => {
    const s = supervisors.at(-1)!;
    writeFileSync(configFile, conf(dir, port, 'two'));
    const r = await s.reload();
    assert.equal(r.ok, true, r.message);
    await eventually(async () => (await fetchText(port).catch(() => '')) === 'two');
    const stop = await s.stop();
    assert.equal(stop.ok, true, stop.message);
    assert.equal(existsSync(join(dir, 'nginx.agent-pid')), false);
    await assert.rejects(fetchText(port));
  });
});

const hasHaproxy = spawnSync('/usr/sbin/haproxy', ['-v']).status === 0;

describe('direct supervisor with a real haproxy (master-worker)', { skip: !hasHaproxy ? 'haproxy is not installed' : !isRoot ? 'needs root' : false }, () => {
  let dir: string;
  let s: DirectSupervisor;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lbha-haproxy-'));
    const [fe, be] = [await freePort(), await freePort()];
    writeFileSync(
      join(dir, 'haproxy.cfg'),
      `global
    stats socket ${dir}/admin.sock mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:${fe}
    default_backend be
backend be
    server web1 127.0.0.1:${be} check inter 200ms
`,
    );
    s = new DirectSupervisor({
      name: 'haproxy',
      spec: haproxySpec({ binary: '/usr/sbin/haproxy', configFile: join(dir, 'haproxy.cfg') }),
      pidFile: join(dir, 'haproxy.agent-pid'),
      logFile: join(dir, 'haproxy.out'),
      startupMs: 150,
      stopTimeoutMs: 5_000,
      pollMs: 50,
      run: runCommand,
      stats: () => fetchHaproxyStats(join(dir, 'admin.sock')),
      logger: silentLogger(),
    });
  });

  after(async () => {
    await s?.stop().catch(() => undefined);
    s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs, reports sessions and server states from the stats socket, reloads, survives a crash', async () => {
    assert.equal((await s.validate()).ok, true);
    const started = await s.start();
    assert.equal(started.ok, true, started.message);
    await eventually(async () => (await s.stats())?.serverStates['be/web1'] === 'DOWN', 'haproxy stats', 5_000);
    assert.equal((await s.stats())?.activeConnections, 0);
    const reload = await s.reload();
    assert.equal(reload.ok, true, reload.message);
    assert.match(reload.message, /SIGUSR2/);
    const exits: ExitInfo[] = [];
    s.onExit((i) => exits.push(i));
    process.kill(s.status().pid, 'SIGKILL');
    await eventually(() => exits.length === 1);
    const again = await s.start();
    assert.equal(again.ok, true, again.message);
    assert.equal((await s.stop()).ok, true);
  });
});

describe('direct supervisor: an adopted daemon replaced by a restart (sleep stands in for the daemon)', () => {
  let dir: string;
  const started: number[] = [];

  /** A daemon left by a previous agent: not a child of this process, recorded in the pid file. */
  function leftBehind(): number {
    const r = spawnSync('sh', ['-c', 'sleep 600 >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' });
    const pid = Number(r.stdout.trim());
    started.push(pid);
    writeFileSync(join(dir, 'sleep.agent-pid'), `${JSON.stringify({ pid, startTime: readProcStat(pid)?.startTime })}\n`);
    return pid;
  }

  const supervisor = (pollMs: number): DirectSupervisor =>
    new DirectSupervisor({
      name: 'sleep',
      spec: { kind: 'nginx', binary: 'sleep', foregroundArgs: ['600'], validateArgs: ['0'], reloadSignal: 'SIGHUP', stopSignal: 'SIGTERM', pidFiles: [] },
      pidFile: join(dir, 'sleep.agent-pid'),
      logFile: join(dir, 'sleep.out'),
      startupMs: 50,
      stopTimeoutMs: 5_000,
      pollMs,
      run: runCommand,
      stats: async () => undefined,
      logger: silentLogger(),
    });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lbha-adopted-'));
  });

  after(() => {
    for (const pid of started) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  async function restartedAndWatched(s: DirectSupervisor, adopted: number): Promise<void> {
    const r = await s.restart();
    assert.equal(r.ok, true, r.message);
    const pid = s.status().pid;
    started.push(pid);
    assert.notEqual(pid, adopted, 'a new process');
    assert.equal(isAlive(adopted), false, 'the adopted one is gone');
    const exits: ExitInfo[] = [];
    s.onExit((i) => exits.push(i));
    process.kill(pid, 'SIGKILL');
    await eventually(() => exits.length > 0, 'the exit of the new process');
    assert.deepEqual(exits.map((e) => [e.pid, e.signal]), [[pid, 'SIGKILL']], 'reported once, as the new process');
    assert.equal(s.status().running, false);
    s.close();
  }

  it('restarts a running adopted daemon, then watches the new one', async () => {
    const s = supervisor(20);
    const adopted = leftBehind();
    assert.equal(await s.adopt(), true);
    assert.equal(s.status().pid, adopted);
    await restartedAndWatched(s, adopted);
  });

  it('an adopted daemon that died before its poll saw it: the restart starts and watches a new one', async () => {
    // A poll slower than the test: the death is never seen by it.
    const s = supervisor(3_600_000);
    const adopted = leftBehind();
    assert.equal(await s.adopt(), true);
    process.kill(adopted, 'SIGKILL');
    await eventually(() => !isAlive(adopted), 'the adopted daemon to die');
    await restartedAndWatched(s, adopted);
  });
});
