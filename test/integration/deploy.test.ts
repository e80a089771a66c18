// Deployment: the systemd units pass `systemd-analyze verify` and keep their hardening score;
// the capabilities the agent unit grants are exactly what the real nginx/haproxy/keepalived
// config tests need (each one is shown to be necessary); a packed release installs into a
// scratch root, runs, installs again without changing anything, and uninstalls; the example
// configs validate with the real loaders, `lbha spec validate` and the daemons' own checks.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { loadAgentConfig } from '@lbha/agent';
import { loadCoordinatorConfig } from '@lbha/coordinator';
import { eventually, freePort } from '@lbha/test-support';
import { BIN, ROOT } from '../support/paths.js';
import { scratchNamespace } from '../lab/lab-names.js';
import { Proc, startNode } from '../support/process.js';

const DEPLOY = join(ROOT, 'deploy');
const UNITS = join(DEPLOY, 'systemd');
const DIRECT_DROPIN = join(UNITS, 'lbha-agent.service.d', 'direct-supervisor.conf');
const isRoot = process.getuid?.() === 0;

interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program with an argument array (never a shell) and captures its output. */
function run(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env }, cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} did not finish in ${timeoutMs}ms`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = join(dir, cmd);
    if (existsSync(p)) return p;
  }
  for (const dir of ['/usr/sbin', '/sbin']) if (existsSync(join(dir, cmd))) return join(dir, cmd);
  return undefined;
}

function missing(...cmds: string[]): string | false {
  const gone = cmds.filter((c) => !which(c));
  return gone.length > 0 ? `not installed: ${gone.join(', ')}` : false;
}

function explain(r: RunResult): string {
  return `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** The union of a unit's (and its drop-ins') CapabilityBoundingSet lines, e.g. ['CAP_CHOWN']. */
function boundingSet(...files: string[]): string[] {
  const caps = new Set<string>();
  for (const f of files) {
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      const m = /^CapabilityBoundingSet=(.*)$/.exec(line.trim());
      if (m) for (const c of (m[1] ?? '').split(/\s+/).filter(Boolean)) caps.add(c);
    }
  }
  return [...caps].sort();
}

/** setpriv's spelling of a bounding set holding exactly `caps`. */
function setprivBounding(caps: readonly string[]): string {
  return ['-all', ...caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
}

function passwdId(file: string, name: string): number | undefined {
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name) return Number(f[2]);
  }
  return undefined;
}

/** Copies the units with ExecStart pointing at stub binaries under `dir`, so verify can check them here. */
function stageUnits(dir: string, withDropIn: boolean): { agent: string; coordinator: string } {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  for (const name of ['lbha-agent', 'lbha-coordinator']) {
    writeFileSync(join(dir, 'bin', name), '#!/bin/sh\nexit 0\n');
    chmodSync(join(dir, 'bin', name), 0o755);
    const text = readFileSync(join(UNITS, `${name}.service`), 'utf8').replaceAll('/usr/bin/lbha', join(dir, 'bin', 'lbha'));
    writeFileSync(join(dir, `${name}.service`), text);
  }
  if (withDropIn) {
    mkdirSync(join(dir, 'lbha-agent.service.d'), { recursive: true });
    copyFileSync(DIRECT_DROPIN, join(dir, 'lbha-agent.service.d', 'direct-supervisor.conf'));
  }
  return { agent: join(dir, 'lbha-agent.service'), coordinator: join(dir, 'lbha-coordinator.service') };
}

/** systemd-analyze verify; only complaints about our own units count (the host's units are not ours). */
async function verifyUnit(file: string): Promise<void> {
  const r = await run('systemd-analyze', ['verify', file]);
  const ours = r.stderr
    .split('\n')
    .filter((l) => l.includes('lbha'))
    .join('\n');
  assert.equal(r.code, 0, explain(r));
  assert.equal(ours, '', `systemd-analyze verify ${file} complained:\n${ours}`);
}

// The overall exposure `systemd-analyze security` reports, times ten (its --threshold unit).
// Recorded in docs/install.md; the test fails if a change makes a unit more exposed.
const EXPOSURE = { agent: 27, agentDirect: 31, coordinator: 11 };

describe('systemd units', { skip: missing('systemd-analyze') }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-units-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('pass systemd-analyze verify', async () => {
    const units = stageUnits(join(dir, 'plain'), false);
    await verifyUnit(units.agent);
    await verifyUnit(units.coordinator);
  });

  it('pass systemd-analyze verify with the direct-supervisor drop-in', async () => {
    const units = stageUnits(join(dir, 'direct'), true);
    await verifyUnit(units.agent);
  });

  it('keep the recorded systemd-analyze security exposure', async () => {
    const plain = stageUnits(join(dir, 'score'), false);
    const direct = stageUnits(join(dir, 'score-direct'), true);
    const cases: [string, number][] = [
      [plain.agent, EXPOSURE.agent],
      [plain.coordinator, EXPOSURE.coordinator],
      [direct.agent, EXPOSURE.agentDirect],
    ];
    for (const [file, threshold] of cases) {
      const r = await run('systemd-analyze', ['security', '--offline=true', `--threshold=${threshold}`, file]);
      const overall = /Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout)?.[1];
      assert.equal(r.code, 0, `${file}: exposure ${overall} is above ${threshold / 10}\n${r.stdout.split('\n').filter((l) => l.includes('✗')).join('\n')}`);
    }
  });

  it('run the coordinator as the unprivileged lbha user with no capabilities', () => {
    const text = readFileSync(join(UNITS, 'lbha-coordinator.service'), 'utf8');
    assert.match(text, /^User=lbha$/m);
    assert.match(text, /^CapabilityBoundingSet=$/m);
    assert.match(text, /^NoNewPrivileges=yes$/m);
    assert.match(text, /^ProtectSystem=strict$/m);
  });

  it('grant the agent only the documented capabilities', () => {
    assert.deepEqual(boundingSet(join(UNITS, 'lbha-agent.service')), ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW']);
    assert.deepEqual(boundingSet(join(UNITS, 'lbha-agent.service'), DIRECT_DROPIN), [
      'CAP_CHOWN',
      'CAP_DAC_OVERRIDE',
      'CAP_NET_ADMIN',
      'CAP_NET_BIND_SERVICE',
      'CAP_NET_RAW',
      'CAP_SETGID',
      'CAP_SETUID',
    ]);
  });
});

// The agent's own work under the unit's bounding set, run against the real daemons in a
// scratch network namespace (so port 80 and the interfaces are this test's own).
describe('agent capability set', { skip: !isRoot ? 'needs root' : missing('setpriv', 'ip', 'nginx', 'haproxy', 'keepalived') }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-caps-'));
  const ns = scratchNamespace('deploy');
  const agentCaps = boundingSet(join(UNITS, 'lbha-agent.service'));
  const directCaps = boundingSet(join(UNITS, 'lbha-agent.service'), DIRECT_DROPIN);
  let fixture = 0;

  before(async () => {
    await run('ip', ['netns', 'del', ns]);
    for (const args of [
      ['netns', 'add', ns],
      ['-n', ns, 'link', 'set', 'lo', 'up'],
      ['-n', ns, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth9'],
      ['-n', ns, 'link', 'set', 'eth1', 'up'],
      ['-n', ns, 'link', 'set', 'eth9', 'up'],
      ['-n', ns, 'addr', 'add', '10.254.0.2/24', 'dev', 'eth1'],
    ]) {
      const r = await run('ip', args);
      assert.equal(r.code, 0, `ip ${args.join(' ')}: ${explain(r)}`);
    }
  });

  after(async () => {
    await run('ip', ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `cmd` in the namespace as root with exactly `caps` in its bounding set. */
  function confined(caps: readonly string[], cmd: string, args: readonly string[]): Promise<RunResult> {
    return run('ip', ['netns', 'exec', ns, 'setpriv', '--bounding-set', setprivBounding(caps), '--inh-caps=-all', '--', cmd, ...args]);
  }

  /**
   * An nginx config shaped like Debian's: logs owned by www-data (0640), temp directories that
   * nginx creates and hands to its worker user, and a listener on port 80.
   */
  function nginxFixture(): string {
    const d = join(dir, `nginx-${fixture++}`);
    mkdirSync(join(d, 'logs'), { recursive: true });
    mkdirSync(join(d, 'tmp'));
    const log = join(d, 'logs', 'error.log');
    writeFileSync(log, '');
    const wwwData = passwdId('/etc/passwd', 'www-data') ?? 33;
    chownSync(log, wwwData, passwdId('/etc/group', 'adm') ?? 4);
    chmodSync(log, 0o640);
    const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `    ${k}_temp_path ${d}/tmp/${k};`).join('\n');
    writeFileSync(
      join(d, 'nginx.conf'),
      `user www-data;\nerror_log ${log};\npid ${d}/nginx.pid;\nevents {}\nhttp {\n    access_log off;\n${temp}\n    server { listen 127.0.0.1:80; }\n}\n`,
    );
    return join(d, 'nginx.conf');
  }

  it('are enough for `nginx -t` on a Debian-style config', async () => {
    const r = await confined(agentCaps, 'nginx', ['-t', '-c', nginxFixture()]);
    assert.equal(r.code, 0, explain(r));
  });

  const reasons: Record<string, RegExp> = {
    CAP_NET_BIND_SERVICE: /bind\(\) to 127\.0\.0\.1:80 failed \(13: Permission denied\)/,
    CAP_DAC_OVERRIDE: /error\.log" failed \(13: Permission denied\)/,
    CAP_CHOWN: /chown\(.*\) failed \(1: Operation not permitted\)/,
  };
  for (const cap of ['CAP_NET_BIND_SERVICE', 'CAP_DAC_OVERRIDE', 'CAP_CHOWN']) {
    it(`need ${cap} (nginx -t fails without it)`, async () => {
      const r = await confined(
        agentCaps.filter((c) => c !== cap),
        'nginx',
        ['-t', '-c', nginxFixture()],
      );
      assert.notEqual(r.code, 0, `nginx -t passed without ${cap}`);
      assert.match(r.stderr, reasons[cap] as RegExp);
    });
  }

  it('need CAP_NET_ADMIN for a connection handover (nft and ip fail without it)', async (t) => {
    if (missing('nft')) return t.skip('nft is not installed');
    const noNetAdmin = agentCaps.filter((c) => c !== 'CAP_NET_ADMIN');
    const table = ['add', 'table', 'netdev', 'lbha_handover_captest'];
    const lo = ['addr', 'add', '10.254.0.50/32', 'dev', 'lo', 'label', 'lo:lbha'];
    const deniedNft = await confined(noNetAdmin, 'nft', table);
    assert.notEqual(deniedNft.code, 0, 'nft loaded a table without CAP_NET_ADMIN');
    assert.match(deniedNft.stderr, /Operation not permitted/);
    const deniedIp = await confined(noNetAdmin, 'ip', lo);
    assert.notEqual(deniedIp.code, 0, 'ip added an address without CAP_NET_ADMIN');
    assert.match(deniedIp.stderr, /Operation not permitted/);
    const nft = await confined(agentCaps, 'nft', table);
    assert.equal(nft.code, 0, explain(nft));
    const ip = await confined(agentCaps, 'ip', lo);
    assert.equal(ip.code, 0, explain(ip));
  });

  it('need CAP_NET_RAW for the priority-0 advert of a dead keepalived (a raw VRRP socket)', async (t) => {
    if (missing('perl')) return t.skip('perl is not installed');
    const raw = ['-MSocket', '-e', 'socket(my $s, AF_INET, SOCK_RAW, 112) or die "$!\\n"'];
    const denied = await confined(agentCaps.filter((c) => c !== 'CAP_NET_RAW'), 'perl', raw);
    assert.notEqual(denied.code, 0, 'a raw socket opened without CAP_NET_RAW');
    assert.match(denied.stderr, /Operation not permitted/);
    const ok = await confined(agentCaps, 'perl', raw);
    assert.equal(ok.code, 0, explain(ok));
  });

  it('are not needed by `haproxy -c` or `keepalived -t`', async () => {
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(cfg, 'global\n    maxconn 100\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nfrontend f\n    bind 127.0.0.1:80\n    default_backend b\nbackend b\n    server s1 127.0.0.1:8080\n');
    const h = await confined([], 'haproxy', ['-c', '-f', cfg]);
    assert.equal(h.code, 0, explain(h));
    const k = join(dir, 'keepalived-t.conf');
    writeFileSync(k, 'vrrp_instance VI_1 {\n  state BACKUP\n  interface eth1\n  virtual_router_id 51\n  priority 100\n  advert_int 1\n  virtual_ipaddress {\n    10.254.0.100/24\n  }\n}\n');
    const t = await confined([], 'keepalived', ['-t', '-f', k]);
    assert.equal(t.code, 0, explain(t));
  });

  it('with the direct-supervisor drop-in, let keepalived take a VIP', async () => {
    const conf = join(dir, 'keepalived.conf');
    writeFileSync(
      conf,
      'global_defs {\n  vrrp_version 3\n}\nvrrp_instance VI_1 {\n  state MASTER\n  interface eth1\n  virtual_router_id 51\n  priority 100\n  advert_int 0.1\n  virtual_ipaddress {\n    10.254.0.100/24\n  }\n}\n',
    );
    const child = spawn(
      'ip',
      ['netns', 'exec', ns, 'setpriv', '--bounding-set', setprivBounding(directCaps), '--inh-caps=-all', '--', 'keepalived', '--dont-fork', '--log-console', '--no-syslog', '--vrrp', '-f', conf, '-p', join(dir, 'k.pid'), '-r', join(dir, 'v.pid')],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const proc = new Proc(child);
    try {
      await eventually(
        async () => {
          const r = await run('ip', ['-n', ns, '-o', 'addr', 'show', 'dev', 'eth1']);
          return r.stdout.includes('10.254.0.100/24');
        },
        'keepalived to add the VIP',
        15_000,
      );
    } finally {
      await proc.stop();
    }
  });
});

/** Path → mode, size and digest of every file and link under `root`, for before/after comparisons. */
function manifest(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      const key = relative(root, p);
      if (st.isDirectory()) {
        out.set(`${key}/`, (st.mode & 0o7777).toString(8));
        walk(p);
      } else if (st.isSymbolicLink()) {
        out.set(key, 'link');
      } else {
        out.set(key, `${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
      }
    }
  };
  walk(root);
  return out;
}

describe('release tarball and installer', { skip: !isRoot ? 'needs root (useradd --root)' : missing('tar', 'useradd', 'systemd-analyze') }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-install-'));
  const root = join(dir, 'root');
  let release = '';

  before(async () => {
    const r = await run('bash', [join(DEPLOY, 'pack.sh'), '--out', dir], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, explain(r));
    const tarball = r.stdout.trim().split('\n').pop() ?? '';
    assert.match(tarball, /lbha-[\w.+~-]+\.tar\.gz$/);
    const x = await run('tar', ['-xzf', tarball, '-C', dir]);
    assert.equal(x.code, 0, explain(x));
    release = join(dir, tarball.replace(/^.*\//, '').replace(/\.tar\.gz$/, ''));
    // A scratch root that has its own user database, like a target image.
    mkdirSync(join(root, 'etc'), { recursive: true });
    for (const f of ['passwd', 'group', 'shadow', 'gshadow']) if (existsSync(`/etc/${f}`)) copyFileSync(`/etc/${f}`, join(root, 'etc', f));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  const install = (...extra: string[]) => run('bash', [join(release, 'install.sh'), '--destdir', root, ...extra], { timeoutMs: 120_000 });
  const uninstall = (...extra: string[]) => run('bash', [join(release, 'uninstall.sh'), '--destdir', root, ...extra], { timeoutMs: 60_000 });

  it('packs a self-contained tree', () => {
    for (const p of [
      'install.sh',
      'uninstall.sh',
      'lib/VERSION',
      'lib/proto/lbha/v1/control.proto',
      'lib/packages/agent/dist/bundle/lbha-agent.js',
      'lib/packages/agent/dist/bundle/lbha-agent.js.map',
      'lib/packages/coordinator/dist/src/bin/lbha-coordinator.js',
      'lib/packages/cli/dist/src/bin/lbha.js',
      'lib/node_modules/@grpc/grpc-js/package.json',
      'systemd/lbha-agent.service',
      'systemd/lbha-coordinator.service',
      'systemd/lbha-agent.service.d/direct-supervisor.conf',
      'examples/agent.yaml',
      'examples/coordinator.yaml',
    ]) {
      assert.ok(existsSync(join(release, p)), `${p} missing from the release`);
    }
    assert.ok(lstatSync(join(release, 'lib/node_modules/@lbha/shared')).isSymbolicLink());
    // Development-only packages stay out.
    for (const dev of ['typescript', 'eslint', 'ts-proto', 'fast-check']) {
      assert.ok(!existsSync(join(release, 'lib/node_modules', dev)), `${dev} (a devDependency) is in the release`);
    }
    assert.ok(!existsSync(join(release, 'lib/packages/agent/dist/test')), 'compiled tests are in the release');
  });

  it('installs into a scratch root', async () => {
    const r = await install();
    assert.equal(r.code, 0, explain(r));
    for (const bin of ['lbha', 'lbha-agent', 'lbha-coordinator']) {
      const st = statSync(join(root, 'usr/bin', bin));
      assert.equal(st.mode & 0o111, 0o111, `${bin} is not executable`);
    }
    for (const p of [
      'usr/lib/lbha/VERSION',
      'usr/lib/systemd/system/lbha-agent.service',
      'usr/lib/systemd/system/lbha-coordinator.service',
      'usr/share/lbha/systemd/direct-supervisor.conf',
      'usr/share/lbha/uninstall.sh',
      'usr/share/lbha/examples/agent.yaml',
    ]) {
      assert.ok(existsSync(join(root, p)), `${p} was not installed`);
    }
    // The user lives in the scratch root's database only.
    const uid = passwdId(join(root, 'etc/passwd'), 'lbha');
    assert.ok(uid !== undefined, 'no lbha user in the scratch root');
    const gid = passwdId(join(root, 'etc/group'), 'lbha');
    for (const conf of ['agent.yaml', 'coordinator.yaml']) {
      const st = statSync(join(root, 'etc/lbha', conf));
      assert.equal(st.mode & 0o777, 0o640, `${conf} mode`);
      assert.equal(st.gid, gid, `${conf} group`);
    }
    assert.equal(statSync(join(root, 'etc/lbha/tls')).mode & 0o777, 0o750);
  });

  it('installs wrappers that run --help', async () => {
    // The agent's wrapper runs the bundle with the V8 flags and the malloc setting it ships with.
    const agentWrapper = readFileSync(join(root, 'usr/bin/lbha-agent'), 'utf8');
    assert.match(agentWrapper, /^export MALLOC_MMAP_THRESHOLD_=131072\nexec .* --max-semi-space-size=1 --lite-mode --single-threaded-gc --bytecode-old-age=1 --expose-gc --compact-on-every-full-gc .*\/packages\/agent\/dist\/bundle\/lbha-agent\.js"? "\$@"$/m);
    // The coordinator's names the OpenSSL configuration it runs with; node ignores a missing file.
    const coordinatorWrapper = readFileSync(join(root, 'usr/bin/lbha-coordinator'), 'utf8');
    const openssl = /"--openssl-config=\$\{self%\/\*\/\*\}\/([^"]+)"/.exec(coordinatorWrapper)?.[1];
    assert.ok(openssl !== undefined && existsSync(join(root, 'usr', openssl)), `lbha-coordinator's --openssl-config: ${coordinatorWrapper}`);
    assert.match(readFileSync(join(root, 'usr', openssl), 'utf8'), /^NumTickets = 0$/m);
    const expect: Record<string, RegExp> = { lbha: /usage: lbha/, 'lbha-agent': /usage: lbha-agent/, 'lbha-coordinator': /usage: lbha-coordinator/ };
    for (const [bin, usage] of Object.entries(expect)) {
      const r = await run(join(root, 'usr/bin', bin), ['--help']);
      assert.equal(r.code, 0, `${bin} --help: ${explain(r)}`);
      assert.match(r.stdout, usage);
    }
  });

  it('installs a coordinator that starts from the installed tree and survives a reload (SIGHUP)', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    const conf = join(dir, 'coordinator-test.yaml');
    writeFileSync(conf, `id: c1\ngrpc:\n  listen: ["${address}"]\ntls: { insecure: true }\nauth: { anonymous: read-only }\nstateDir: ${join(dir, 'state')}\n`);
    const proc = new Proc(spawn(join(root, 'usr/bin/lbha-coordinator'), ['--config', conf], { stdio: ['ignore', 'pipe', 'pipe'] }));
    try {
      await proc.waitForLog((l) => l.event === 'coordinator.started');
      // What `systemctl reload lbha-coordinator` sends (ExecReload): it must not end the process.
      proc.kill('SIGHUP');
      const status = await run(join(root, 'usr/bin/lbha'), ['status', '--insecure', '--coordinator', address]);
      assert.equal(status.code, 0, explain(status));
      assert.equal(proc.child.exitCode, null, 'the coordinator exited on SIGHUP');
      assert.equal(proc.child.signalCode, null, 'the coordinator was killed by SIGHUP');
    } finally {
      await proc.stop();
    }
  });

  it('installs units that verify with the installed paths', async () => {
    for (const unit of ['lbha-agent.service', 'lbha-coordinator.service']) {
      const text = readFileSync(join(root, 'usr/lib/systemd/system', unit), 'utf8');
      assert.match(text, /^ExecStart=\/usr\/bin\/lbha-/m);
      // Point ExecStart into the scratch root so verify can find the wrapper.
      const staged = join(dir, unit);
      writeFileSync(staged, text.replaceAll('/usr/bin/lbha', join(root, 'usr/bin/lbha')));
      await verifyUnit(staged);
    }
  });

  it('is idempotent and keeps edited configuration', async () => {
    const agentConf = join(root, 'etc/lbha/agent.yaml');
    writeFileSync(agentConf, `${readFileSync(agentConf, 'utf8')}# edited on this node\n`);
    const before = manifest(root);
    const r = await install();
    assert.equal(r.code, 0, explain(r));
    assert.match(r.stdout, /kept \/etc\/lbha\/agent\.yaml/);
    const afterwards = manifest(root);
    // passwd backups (passwd-) may be rewritten by useradd; nothing else may change.
    const changed = [...new Set([...before.keys(), ...afterwards.keys()])].filter((k) => before.get(k) !== afterwards.get(k) && !/^etc\/\w+-$/.test(k));
    assert.deepEqual(changed, []);
    assert.match(readFileSync(agentConf, 'utf8'), /# edited on this node/);
    const users = readFileSync(join(root, 'etc/passwd'), 'utf8').split('\n').filter((l) => l.startsWith('lbha:'));
    assert.equal(users.length, 1);
  });

  it('follows --prefix in wrappers and units', async () => {
    const alt = join(dir, 'alt');
    const r = await run('bash', [join(release, 'install.sh'), '--destdir', alt, '--prefix', '/opt/lbha', '--no-user'], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, explain(r));
    const unit = readFileSync(join(alt, 'opt/lbha/lib/systemd/system/lbha-agent.service'), 'utf8');
    assert.match(unit, /^ExecStart=\/opt\/lbha\/bin\/lbha-agent /m);
    const help = await run(join(alt, 'opt/lbha/bin/lbha'), ['--help']);
    assert.equal(help.code, 0, explain(help));
  });

  it('uninstalls, keeping configuration unless --purge', async () => {
    const r = await uninstall();
    assert.equal(r.code, 0, explain(r));
    for (const p of ['usr/bin/lbha', 'usr/bin/lbha-agent', 'usr/lib/lbha', 'usr/lib/systemd/system/lbha-agent.service', 'usr/share/lbha']) {
      assert.ok(!existsSync(join(root, p)), `${p} is still there`);
    }
    assert.ok(existsSync(join(root, 'etc/lbha/agent.yaml')), 'configuration was removed without --purge');
    const again = await uninstall();
    assert.equal(again.code, 0, explain(again));
    const purge = await uninstall('--purge');
    assert.equal(purge.code, 0, explain(purge));
    assert.ok(!existsSync(join(root, 'etc/lbha')));
    assert.equal(passwdId(join(root, 'etc/passwd'), 'lbha'), undefined, 'the lbha user is still there');
  });
});

// ---------------------------------------------------------------------------------------------
// Example configurations: both seed setups, validated by the real tools and compared with the
// values in the seeds' own keepalived.conf.

const EXAMPLES = join(DEPLOY, 'examples');

/** The parts of a parsed spec these tests look at. */
interface ParsedSpec {
  readonly clusters: readonly {
    readonly name: string;
    readonly service: string;
    readonly policy: { readonly failback: { readonly kind: string }; readonly advertIntervalMs: number; readonly vrrpVersion: number; readonly transport: string; readonly mcastGroup: string; readonly authPass: string };
    readonly trackInterfaces: readonly string[];
    readonly nodes: readonly { readonly name: string; readonly interfaces: readonly { readonly name: string; readonly address: string | null }[] }[];
    readonly vips: readonly { readonly name: string; readonly cidr: string; readonly interface: string; readonly vrid: number; readonly home: string | null; readonly authPass: string | null }[];
    readonly checks: readonly { readonly name: string; readonly intervalMs: number; readonly fall: number; readonly rise: number; readonly effect: string; readonly penalty: number; readonly params: { readonly kind: string; readonly [k: string]: unknown } }[];
  }[];
}
type SpecParse = { readonly ok: true; readonly value: ParsedSpec } | { readonly ok: false; readonly issues: readonly { readonly path: string; readonly line: number; readonly message: string }[] };

async function parseSpecFile(file: string): Promise<ParsedSpec> {
  const mod = (await import(pathToFileURL(join(ROOT, 'packages/coordinator/dist/src/spec/parse-spec.js')).href)) as { parseSpec(text: string): SpecParse };
  const r = mod.parseSpec(readFileSync(file, 'utf8'));
  if (!r.ok) assert.fail(`${file}:\n${r.issues.map((i) => `${i.line}: ${i.path}: ${i.message}`).join('\n')}`);
  return r.value;
}

/** A coordinator for `lbha spec validate` (which asks the coordinator's ValidateSpec). */
let validator: { proc: Proc; address: string } | undefined;

async function startValidator(dir: string): Promise<void> {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const conf = join(dir, 'validator.yaml');
  // Plaintext on loopback with anonymous read-only access: ValidateSpec changes nothing.
  writeFileSync(conf, `id: validator\ngrpc: { listen: ["${address}"] }\ntls: { insecure: true }\nauth: { anonymous: read-only }\nstateDir: ${join(dir, 'validator-state')}\n`);
  const proc = startNode(BIN.coordinator, ['--config', conf]);
  await proc.waitForLog((l) => l.event === 'coordinator.started');
  validator = { proc, address };
}

/** `lbha spec validate FILE` against the test's coordinator. */
async function cliSpecValidate(file: string): Promise<RunResult> {
  assert.ok(validator, 'the validating coordinator is running');
  return run(process.execPath, [BIN.cli, 'spec', 'validate', file, '--insecure', '--coordinator', validator.address]);
}

const SETUPS = [
  { dir: 'nginx-active-active', agents: ['agent-nginx-lb01.yaml', 'agent-nginx-lb02.yaml'] },
  { dir: 'haproxy-active-backup', agents: ['agent-node1.yaml', 'agent-node2.yaml'] },
];

describe('example configurations', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-examples-'));
  before(() => startValidator(dir));
  after(async () => {
    await validator?.proc.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const setup of SETUPS) {
    const spec = join(EXAMPLES, setup.dir, 'cluster.yaml');

    it(`${setup.dir}: the spec validates`, async () => {
      await parseSpecFile(spec);
      const cli = await cliSpecValidate(spec);
      assert.equal(cli.code, 0, `lbha spec validate ${spec}: ${explain(cli)}`);
      assert.match(cli.stdout, /is valid/);
    });

    it(`${setup.dir}: a broken copy of the spec is refused`, async () => {
      // Guards against a validator that accepts anything: a VIP takes another VIP's VRID on the
      // same segment (seed 1: vip-29 takes 51; seed 2: a second VIP with 51).
      const text = readFileSync(spec, 'utf8');
      const broken = join(dir, `${setup.dir}-broken.yaml`);
      const dup = text.includes('vrid: 52')
        ? text.replace('vrid: 52', 'vrid: 51')
        : text.replace(/^( *)- \{ name: vip-100, .*$/m, (line, indent: string) => `${line}\n${indent}- { name: vip-101, address: 192.168.2.101, interface: enp0s3, vrid: 51 }`);
      assert.notEqual(dup, text);
      writeFileSync(broken, dup);
      const mod = (await import(pathToFileURL(join(ROOT, 'packages/coordinator/dist/src/spec/parse-spec.js')).href)) as { parseSpec(text: string): SpecParse };
      const r = mod.parseSpec(dup);
      assert.ok(!r.ok, 'a duplicate VRID was accepted');
      assert.ok(
        r.issues.some((i) => /vrid/.test(i.path) && /VRID 51/.test(i.message)),
        r.issues.map((i) => `${i.path}: ${i.message}`).join('\n'),
      );
      const cli = await cliSpecValidate(broken);
      assert.notEqual(cli.code, 0, `lbha spec validate accepted a duplicate VRID: ${explain(cli)}`);
      assert.match(cli.stderr + cli.stdout, /VRID 51/);
    });

    it(`${setup.dir}: the agent and coordinator configurations load and match the spec`, async () => {
      const parsed = await parseSpecFile(spec);
      const cluster = parsed.clusters[0];
      assert.ok(cluster);
      const nodes = new Set(cluster.nodes.map((n) => n.name));
      for (const file of setup.agents) {
        const a = loadAgentConfig(join(EXAMPLES, setup.dir, file));
        assert.equal(a.cluster, cluster.name, file);
        assert.ok(nodes.has(a.node), `${file}: node ${a.node} is not in the spec`);
        nodes.delete(a.node);
        assert.ok(a.services[cluster.service], `${file}: no ${cluster.service} service`);
      }
      assert.deepEqual([...nodes], [], 'nodes without an agent configuration');
      loadCoordinatorConfig(join(EXAMPLES, setup.dir, 'coordinator.yaml'));
    });
  }

  it('generic agent and coordinator configurations load', () => {
    loadAgentConfig(join(EXAMPLES, 'agent.yaml'));
    loadCoordinatorConfig(join(EXAMPLES, 'coordinator.yaml'));
  });

  it('nginx-active-active reproduces the seed keepalived.conf', async () => {
    const [c] = (await parseSpecFile(join(EXAMPLES, 'nginx-active-active', 'cluster.yaml'))).clusters;
    assert.ok(c);
    assert.equal(c.service, 'nginx');
    assert.deepEqual(
      c.nodes.map((n) => [n.name, n.interfaces.map((i) => `${i.name}=${i.address ?? '-'}`).join(' ')]),
      [
        ['nginx-lb01', 'eth1=192.168.20.19/24 eth2=192.168.50.19/24'],
        ['nginx-lb02', 'eth1=192.168.20.20/24 eth2=192.168.50.20/24'],
      ],
    );
    // virtual_ipaddress, virtual_router_id and the MASTER node of VI_1 and VI_2.
    assert.deepEqual(
      c.vips.map((v) => [v.cidr, v.interface, v.vrid, v.home]),
      [
        ['192.168.20.28/24', 'eth1', 51, 'nginx-lb01'],
        ['192.168.20.29/24', 'eth1', 52, 'nginx-lb02'],
      ],
    );
    // advert_int 3, auth_type PASS (VRRPv2), vrrp_mcast_group4 224.0.0.19, preemption.
    assert.equal(c.policy.advertIntervalMs, 3000);
    assert.equal(c.policy.vrrpVersion, 2);
    assert.equal(c.policy.transport, 'multicast');
    assert.equal(c.policy.mcastGroup, '224.0.0.19');
    assert.equal(c.policy.authPass, '1111');
    // VI_2's own auth_pass 2222.
    assert.deepEqual(c.vips.map((v) => [v.name, v.authPass]), [['vip-28', null], ['vip-29', '2222']]);
    assert.equal(c.policy.failback.kind, 'immediate');
    // track_interface { eth2 eth0 }: eth0 is not in the seed's address plan (a management link),
    // so the example tracks eth2 and says how to add eth0.
    assert.deepEqual([...c.trackInterfaces].sort(), ['eth2']);
    const byKind = new Map(c.checks.map((k) => [k.params.kind, k]));
    // chk_down: weight -50, interval 1, fall 3, rise 3 on /etc/keepalived/down.
    const down = byKind.get('maintenance_file');
    assert.ok(down);
    assert.deepEqual([down.params['path'], down.effect, down.penalty, down.intervalMs, down.fall, down.rise], ['/etc/keepalived/down', 'penalty', 50, 1000, 3, 3]);
    // chk_nginx (no weight: FAULT when it fails).
    const proc = byKind.get('process');
    assert.ok(proc);
    assert.deepEqual([proc.params['service'], proc.effect], ['nginx', 'fault']);
  });

  it('haproxy-active-backup reproduces the seed keepalived.conf', async () => {
    const [c] = (await parseSpecFile(join(EXAMPLES, 'haproxy-active-backup', 'cluster.yaml'))).clusters;
    assert.ok(c);
    assert.equal(c.service, 'haproxy');
    assert.deepEqual(
      c.nodes.map((n) => [n.name, n.interfaces.map((i) => `${i.name}=${i.address ?? '-'}`).join(' ')]),
      [
        ['node1', 'enp0s3=192.168.2.191/24'],
        ['node2', 'enp0s3=192.168.2.148/24'],
      ],
    );
    assert.deepEqual(
      c.vips.map((v) => [v.cidr, v.interface, v.vrid, v.home]),
      [['192.168.2.100/32', 'enp0s3', 51, 'node1']],
    );
    assert.equal(c.policy.advertIntervalMs, 1000);
    assert.equal(c.policy.vrrpVersion, 2);
    assert.equal(c.policy.mcastGroup, '224.0.0.18');
    assert.equal(c.policy.authPass, 'ceb1b3ec013d66163d6ab');
    assert.equal(c.policy.failback.kind, 'immediate');
    // check_haproxy: interval 2, weight -100, fall 3, rise 2.
    const [check] = c.checks;
    assert.ok(check);
    assert.deepEqual([check.params.kind, check.params['service'], check.intervalMs, check.fall, check.rise, check.effect, check.penalty], ['process', 'haproxy', 2000, 3, 2, 'penalty', 100]);
  });

  it('haproxy.cfg passes haproxy -c', { skip: missing('haproxy') }, async () => {
    const r = await run('haproxy', ['-c', '-f', join(EXAMPLES, 'haproxy-active-backup', 'haproxy', 'haproxy.cfg')]);
    assert.equal(r.code, 0, explain(r));
  });

  it('nginx.conf passes nginx -t', { skip: !isRoot ? 'needs root (nginx -t binds :80 and :443)' : missing('nginx', 'openssl', 'ip') }, async () => {
    // The seed's files with /etc/nginx and /var/log/nginx moved into a scratch directory and a
    // scratch network namespace for the listen sockets; as shipped (plain HTTP, no certificate
    // needed), then with the seed's HTTPS lines uncommented and a throwaway certificate.
    const base = join(dir, 'nginx');
    const src = join(EXAMPLES, 'nginx-active-active', 'nginx');
    mkdirSync(join(base, 'conf.d'), { recursive: true });
    mkdirSync(join(base, 'certs'));
    mkdirSync(join(base, 'logs'));
    const moved = (text: string) =>
      text
        .replaceAll('/etc/nginx/mime.types', join(base, 'mime.types'))
        .replaceAll('/etc/nginx/', `${base}/`)
        .replaceAll('/var/log/nginx/', `${base}/logs/`)
        .replaceAll('/run/nginx.pid', join(base, 'nginx.pid'));
    writeFileSync(join(base, 'mime.types'), 'types {\n    text/html html;\n}\n');
    writeFileSync(join(base, 'nginx.conf'), moved(readFileSync(join(src, 'nginx.conf'), 'utf8')));
    writeFileSync(join(base, 'proxy_params'), readFileSync(join(src, 'proxy_params'), 'utf8'));
    for (const f of readdirSync(join(src, 'conf.d'))) writeFileSync(join(base, 'conf.d', f), moved(readFileSync(join(src, 'conf.d', f), 'utf8')));
    const ns = scratchNamespace('example');
    await run('ip', ['netns', 'del', ns]);
    assert.equal((await run('ip', ['netns', 'add', ns])).code, 0);
    try {
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      const plain = await run('ip', ['netns', 'exec', ns, 'nginx', '-t', '-c', join(base, 'nginx.conf')]);
      assert.equal(plain.code, 0, `as shipped: ${explain(plain)}`);
      const cert = await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=www.xuzhichao.com', '-keyout', join(base, 'certs/xuzhichao.key'), '-out', join(base, 'certs/xuzhichao.crt')]);
      assert.equal(cert.code, 0, explain(cert));
      const site = join(base, 'conf.d', 'xuzhichao.conf');
      const https = readFileSync(site, 'utf8').replace(/^(\s*)# ?(.*?)\s*# HTTPS, as in the seed$/gm, '$1$2');
      assert.match(https, /^\s*listen 443 ssl;/m);
      writeFileSync(site, https.replace(/^(\s*)# (if \( \$scheme|\t?rewrite|\})/gm, '$1$2'));
      const tls = await run('ip', ['netns', 'exec', ns, 'nginx', '-t', '-c', join(base, 'nginx.conf')]);
      assert.equal(tls.code, 0, `with the seed's HTTPS lines: ${explain(tls)}`);
    } finally {
      await run('ip', ['netns', 'del', ns]);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The operator docs stay in step with what they describe.

describe('operator docs', () => {
  const docs = join(ROOT, 'docs');

  it('troubleshooting.md has a section for every alert rule', () => {
    const dir = join(DEPLOY, 'prometheus');
    const rules = existsSync(dir) ? readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)) : [];
    const alerts = rules.flatMap((f) => [...readFileSync(join(dir, f), 'utf8').matchAll(/^\s*-\s*alert:\s*(\S+)\s*$/gm)].map((m) => m[1] as string));
    const headings = new Set([...readFileSync(join(docs, 'troubleshooting.md'), 'utf8').matchAll(/^## (\S+)\s*$/gm)].map((m) => m[1]));
    assert.deepEqual(alerts.filter((a) => !headings.has(a)), [], 'alerts without a section in docs/troubleshooting.md');
  });

  it('link only to files that exist', () => {
    for (const page of ['install.md', 'operator-guide.md', 'migration.md', 'troubleshooting.md']) {
      const text = readFileSync(join(docs, page), 'utf8');
      for (const m of text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
        const target = m[1] as string;
        if (/^[a-z]+:/.test(target)) continue;
        // api.md belongs to the API docs; it may be written after these pages.
        if (target === 'api.md' && !existsSync(join(docs, target))) continue;
        assert.ok(existsSync(join(docs, target)), `${page} links to ${target}, which does not exist`);
      }
      for (const m of text.matchAll(/`((?:deploy|packages|test)\/[\w./-]+)`/g)) {
        const path = (m[1] as string).replace(/[.,]$/, '');
        if (path.includes('<') || path.includes('*')) continue;
        assert.ok(existsSync(join(ROOT, path)), `${page} names ${path}, which does not exist`);
      }
    }
  });
});
