// The end-to-end tier on nodes booted with systemd: two LB nodes and a coordinator node run
// Debian 12 with systemd as PID 1 (systemd-nspawn), get lbha from the Debian packages this
// checkout builds, installed and configured exactly as docs/install.md says, and run it under
// the shipped units: the agent drives keepalived and nginx through systemctl, under the unit's
// sandbox. Clients in their own namespace see what happens. Needs root, systemd-nspawn and
// mmdebstrap (scripts/install-deps.sh); the root file system is built once and cached.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { summarizeProbe, describeSummary, type ProbeRecord } from '../lab/probe-records.js';
import { runCommand } from '../lab/run-command.js';
import { waitFor } from '@lbha/test-support';
import { buildPackages, readPackages, COORD_ADDRESS, COORD_NAME, SystemdCluster, type LbRole, type Packages } from '../systemd/systemd-cluster.js';

const log = (line: string): void => console.log(`# ${line}`);

async function unavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, containers)';
  for (const tool of ['systemd-nspawn', 'mmdebstrap', 'nsenter', 'dpkg-deb']) {
    if ((await runCommand('sh', ['-c', 'command -v "$0"', tool])).code !== 0) return `${tool} is missing (scripts/install-deps.sh installs it)`;
  }
  return undefined;
}
const skip = await unavailable();

const VIP1 = '192.168.20.28'; // home nginx-lb01
const VIP2 = '192.168.20.29'; // home nginx-lb02

interface NodeInfoJson {
  name: string;
  connected: boolean;
  agentVersion: string;
  bootId: string;
}

describe('lbha on systemd-booted Debian 12 nodes, installed from its packages', { skip, timeout: 30 * 60_000 }, () => {
  const cluster = new SystemdCluster(log);
  let pkg: Packages;
  let upgrade: Packages;
  const timings: string[] = [];

  const timed = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const v = await f();
    timings.push(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return v;
  };
  const coord = () => cluster.node('coord');
  const lb = (r: LbRole) => cluster.node(r);
  const nodes = async (): Promise<NodeInfoJson[]> => (JSON.parse(await cluster.lbha(['status', '--json'])) as { nodes: NodeInfoJson[] }).nodes;
  const nodeInfo = async (name: string): Promise<NodeInfoJson | undefined> => (await nodes()).find((n) => n.name === name);
  const journal = async (role: 'lb1' | 'lb2' | 'coord', unit: string): Promise<string[]> =>
    (await cluster.node(role).run(['journalctl', '-u', unit, '-o', 'cat', '--no-pager'])).split('\n');

  /** docs/install.md, "Installing", then "A coordinator host" and "An LB node", command by command. */
  async function installAsDocumented(): Promise<void> {
    const deb = (f: string) => `/root/packages/release/${f}`;
    // The download is what the build made.
    await coord().run(['env', '-C', '/root/packages/release', 'sha256sum', '--check', '--quiet', 'SHA256SUMS']);
    // The coordinator host.
    await coord().run(['apt', 'install', '-y', deb(pkg.coordinator), deb(pkg.cli)]);
    await coord().run(['lbha-dev-ca', '--out', '/etc/lbha/tls', '--agent', 'nginx-lb01', '--agent', 'nginx-lb02', '--operator', 'admin', '--server-name', COORD_NAME]);
    await coord().run(['chgrp', 'lbha', '/etc/lbha/tls/coordinator.key']);
    await coord().run(['chmod', '0640', '/etc/lbha/tls/coordinator.key']);
    await coord().run(['cp', '/usr/share/lbha-coordinator/examples/nginx-active-active/coordinator.yaml', '/etc/lbha/coordinator.yaml']);
    await coord().run(['cp', '/usr/share/lbha-coordinator/examples/nginx-active-active/cluster-recommended.yaml', '/etc/lbha/cluster.yaml']);
    await coord().run(['lbha', 'spec', 'validate', '/etc/lbha/cluster.yaml']);
    await coord().run(['lbha-coordinator', '--check']);
    await coord().run(['systemctl', 'enable', '--now', 'lbha-coordinator']);
    await coord().run(['mkdir', '-p', '/root/.config/lbha']);
    writeFileSync(coord().path('/root/.config/lbha/cli.yaml'), 'coordinator: 127.0.0.1:7400\nca: /etc/lbha/tls/ca.crt\ncert: /etc/lbha/tls/operator-admin.crt\nkey: /etc/lbha/tls/operator-admin.key\n');
    // The LB nodes.
    await Promise.all((['lb1', 'lb2'] as const).map(async (role) => {
      const name = cluster.lbName(role);
      const node = lb(role);
      await node.run(['apt', 'install', '-y', deb(pkg.agent)]);
      cluster.copyBetween('coord', '/etc/lbha/tls/ca.crt', role, '/etc/lbha/tls/ca.crt', 0o644);
      cluster.copyBetween('coord', `/etc/lbha/tls/agent-${name}.crt`, role, `/etc/lbha/tls/agent-${name}.crt`, 0o644);
      cluster.copyBetween('coord', `/etc/lbha/tls/agent-${name}.key`, role, `/etc/lbha/tls/agent-${name}.key`, 0o600);
      const hosts = node.path('/etc/hosts');
      writeFileSync(hosts, `${existsSync(hosts) ? readFileSync(hosts, 'utf8') : '127.0.0.1 localhost\n'}${COORD_ADDRESS} ${COORD_NAME}\n`);
      await node.run(['cp', '-r', '/usr/share/lbha-agent/examples/nginx-active-active/nginx/.', '/etc/nginx/']);
      await node.run(['nginx', '-t']);
      await node.run(['systemctl', 'reload', 'nginx']);
      await node.run(['cp', `/usr/share/lbha-agent/examples/nginx-active-active/agent-${name}.yaml`, '/etc/lbha/agent.yaml']);
      writeFileSync(node.path('/etc/sysctl.d/60-lbha-handover.conf'), 'net.ipv4.conf.all.arp_ignore = 1\nnet.ipv4.conf.all.arp_announce = 2\n');
      await node.run(['sysctl', '-p', '/etc/sysctl.d/60-lbha-handover.conf']);
      await node.run(['lbha-agent', '--check']);
      await node.run(['systemctl', 'enable', '--now', 'lbha-agent']);
    }));
  }

  before(async () => {
    // LBHA_SYSTEMD_PACKAGES=DIR takes packages built before (DIR/release and DIR/upgrade, the
    // latter with a higher version), to iterate on the tier without packing twice per run.
    const prebuilt = process.env['LBHA_SYSTEMD_PACKAGES'];
    const pkgRoot = prebuilt ?? join('/var/tmp/lbha-systemd', `${process.pid}-packages`);
    pkg = await timed('npm run package', () => (prebuilt ? readPackages(join(pkgRoot, 'release')) : buildPackages(join(pkgRoot, 'release'))));
    upgrade = await timed('npm run package (upgrade version)', () =>
      prebuilt ? readPackages(join(pkgRoot, 'upgrade')) : buildPackages(join(pkgRoot, 'upgrade'), `${pkg.version}+upgrade1`),
    );
    assert.notEqual(upgrade.version, pkg.version);
    await timed('root fs, network and three nodes booted', () => cluster.start({ ...pkg, dir: pkgRoot }));
    log(cluster.rootfs?.built ? `root file system built in ${((cluster.rootfs.buildMs) / 1000).toFixed(1)} s` : `root file system from the cache: ${cluster.rootfs?.dir}`);
    await timed('install and configure as docs/install.md says', installAsDocumented);
    await timed('VIPs on their home nodes', async () => {
      await cluster.waitForHolder(VIP1, 'lb1', 60_000);
      await cluster.waitForHolder(VIP2, 'lb2', 60_000);
    });
  });

  after(async () => {
    await cluster.down();
    if (!process.env['LBHA_SYSTEMD_PACKAGES']) await runCommand('rm', ['-rf', join('/var/tmp/lbha-systemd', `${process.pid}-packages`)]);
    for (const t of timings) log(`time: ${t}`);
  });

  it('runs from its own runtime: no Node.js on the nodes, the release version everywhere', async () => {
    for (const role of ['lb1', 'lb2', 'coord'] as const) {
      const which = await cluster.node(role).exec(['sh', '-c', 'command -v node nodejs']);
      assert.equal(which.stdout.trim(), '', `${role} has a node on PATH`);
    }
    assert.match(await lb('lb1').run(['lbha-agent', '--version']), new RegExp(`^lbha-agent ${pkg.version.replace(/\+/g, '\\+')} \\(Node\\.js 2\\d\\.`));
    assert.match(await coord().run(['lbha-coordinator', '--version']), new RegExp(`^lbha-coordinator ${pkg.version}`));
    assert.match(await coord().run(['lbha', '--version']), new RegExp(`^lbha ${pkg.version}`));
    // The agents' Hello carries the release version, and the coordinator shows it.
    await waitFor('both agents connected', async () => {
      const ns = await nodes();
      const ok = ns.filter((n) => n.connected && n.agentVersion === pkg.version).length === 2;
      return ok ? { done: true, value: undefined } : { done: false, observed: JSON.stringify(ns.map((n) => [n.name, n.connected, n.agentVersion])) };
    }, { timeoutMs: 30_000 });
    log(await cluster.lbha(['status']));
    // The self-contained tarball installs and runs on a node without Node.js too.
    const tarball = `lbha-${pkg.version}-linux-x64.tar.gz`;
    await coord().run(['tar', '-C', '/tmp', '-xzf', `/root/packages/release/${tarball}`]);
    await coord().run([`/tmp/lbha-${pkg.version}/install.sh`, '--destdir', '/tmp/stage', '--no-user']);
    assert.match(await coord().run(['/tmp/stage/usr/bin/lbha', '--version']), new RegExp(`^lbha ${pkg.version}`));
  });

  it('the agent drives keepalived and nginx through systemd, under the shipped sandbox', async () => {
    for (const role of ['lb1', 'lb2'] as const) {
      for (const unit of ['lbha-agent', 'keepalived', 'nginx']) {
        assert.equal((await lb(role).exec(['systemctl', 'is-active', unit])).stdout.trim(), 'active', `${role}: ${unit}`);
      }
      // keepalived runs in its own unit with the configuration the agent rendered.
      const conf = await lb(role).run(['cat', '/etc/keepalived/keepalived.conf']);
      assert.match(conf, /vrrp_instance/);
      const cgroup = await lb(role).run(['systemctl', 'show', '-p', 'ControlGroup', '--value', 'keepalived']);
      assert.match(cgroup, /keepalived\.service/);
      assert.equal((await lb(role).run(['systemctl', 'show', '-p', 'ProtectKernelTunables', '--value', 'lbha-agent'])).trim(), 'yes');
    }
    for (const [role, unit] of [['lb1', 'lbha-agent'], ['coord', 'lbha-coordinator']] as const) {
      const out = await cluster.node(role).run(['systemd-analyze', 'security', '--no-pager', `${unit}.service`]);
      const overall = out.split('\n').find((l) => l.includes('Overall exposure level'));
      assert.ok(overall, out);
      log(`systemd-analyze security ${unit}.service: ${overall.replace(/^\W+/, '').trim()}`);
    }
  });

  it('seed-1 failover: nginx dies with a broken configuration, the VIP moves, and comes home once repaired', async () => {
    const probe = await cluster.startProbe(VIP1);
    const site = lb('lb1').path('/etc/nginx/conf.d/xuzhichao.conf');
    const good = readFileSync(site, 'utf8');
    try {
      writeFileSync(site, `${good}\nbogus_directive on;\n`);
      // Master and workers at once, as an OOM kill or a crash would.
      await lb('lb1').run(['pkill', '--signal', 'KILL', '--exact', 'nginx']);
      await cluster.waitForHolder(VIP1, 'lb2');
      await waitFor('lbha vips to show vip-28 on nginx-lb02', async () => {
        const out = await cluster.lbha(['vips']);
        return /vip-28\s.*nginx-lb02/.test(out) ? { done: true, value: undefined } : { done: false, observed: out };
      }, { timeoutMs: 20_000 });
    } finally {
      writeFileSync(site, good);
    }
    // The agent restarts nginx once its configuration is valid again; the VIP goes home.
    await cluster.waitForHolder(VIP1, 'lb1', 60_000);
    const records = await probe.stop();
    const s = summarizeProbe(records);
    log(`proxy death with a broken config, as the client saw it: ${describeSummary(s)}`);
    assert.ok(records.slice(-5).every((r) => r.ok), 'the client is served again after the failover and the failback');
  });

  it('a drain moves the VIP and loses nothing on a kept-alive connection; the handover works under the unit', async () => {
    await cluster.waitForHolder(VIP1, 'lb1');
    const kept = await cluster.startProbe(VIP1, true);
    const fresh = await cluster.startProbe(VIP1);
    try {
      await cluster.lbha(['drain', 'nginx-lb01', '--wait', '--timeout', '60s', '--reason', 'systemd tier']);
      await cluster.waitForHolder(VIP1, 'lb2');
      const [k, f] = [await kept.stop(), await fresh.stop()];
      log(`drain, kept-alive client: ${describeSummary(summarizeProbe(k))}`);
      log(`drain, fresh connections: ${describeSummary(summarizeProbe(f))}`);
      assert.equal(k.filter((r) => !r.ok).length, 0, 'the kept-alive client lost requests');
      assert.equal(f.filter((r) => !r.ok).length, 0, 'fresh connections failed during a planned move');
      for (const role of ['lb1', 'lb2'] as const) {
        const lines = await journal(role, 'lbha-agent');
        assert.ok(lines.some((l) => l.includes('"event":"handover.started"')), `${role}: no handover.started`);
        const failed = lines.filter((l) => /"event":"handover\.(failed|nft_failed)"/.test(l));
        assert.deepEqual(failed, [], `${role}: the handover failed under the unit`);
      }
    } finally {
      await cluster.lbha(['undrain', 'nginx-lb01', '--wait']);
    }
    await cluster.waitForHolder(VIP1, 'lb1', 60_000);
  });

  /** Probes on both VIPs and a holder sampler while `action` runs: nothing may fail or move. */
  async function withoutDisturbance(what: string, action: () => Promise<void>): Promise<void> {
    await cluster.waitForHolder(VIP1, 'lb1');
    await cluster.waitForHolder(VIP2, 'lb2');
    const probes = [await cluster.startProbe(VIP1), await cluster.startProbe(VIP2)];
    const moves: string[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [h1, h2] = [await cluster.holdersOf(VIP1), await cluster.holdersOf(VIP2)];
        if (h1.join() !== 'lb1' || h2.join() !== 'lb2') moves.push(`${new Date().toISOString()} ${VIP1}:[${h1}] ${VIP2}:[${h2}]`);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      await action();
    } finally {
      sampling = false;
      await sampler;
    }
    const records: ProbeRecord[][] = [];
    for (const p of probes) records.push(await p.stop());
    for (const [i, r] of records.entries()) log(`${what}, VIP ${i + 1}: ${describeSummary(summarizeProbe(r))}`);
    assert.deepEqual(moves.slice(0, 5), [], `${what} moved a VIP (${moves.length} samples off home)`);
    assert.deepEqual(records.flat().filter((r) => !r.ok).map((r) => r.error), [], `${what}: requests failed`);
  }

  const waitReconnected = async (name: string, oldBoot: string, version: string): Promise<void> => {
    await waitFor(`${name} to reconnect (version ${version})`, async () => {
      const n = await nodeInfo(name);
      return n && n.connected && n.bootId !== oldBoot && n.agentVersion === version ? { done: true, value: undefined } : { done: false, observed: JSON.stringify(n) };
    }, { timeoutMs: 60_000, intervalMs: 200 });
  };

  it('systemctl restart lbha-agent on the VIP holder moves no VIP and fails no request', async () => {
    const before = await nodeInfo('nginx-lb01');
    assert.ok(before);
    const otherAgent = async () => (await lb('lb2').run(['systemctl', 'show', '-p', 'MainPID', '--value', 'lbha-agent'])).trim();
    const other = await otherAgent();
    await withoutDisturbance('systemctl restart lbha-agent', async () => {
      await lb('lb1').run(['systemctl', 'restart', 'lbha-agent']);
      await waitReconnected('nginx-lb01', before.bootId, pkg.version);
    });
    assert.equal(await otherAgent(), other, 'the restart on nginx-lb01 touched the agent of nginx-lb02');
  });

  it('a package upgrade on both nodes, one after the other, moves no VIP and fails no request', async () => {
    const deb = `/root/packages/upgrade/${upgrade.agent}`;
    await withoutDisturbance('apt install of a newer lbha-agent', async () => {
      for (const role of ['lb1', 'lb2'] as const) {
        const name = cluster.lbName(role);
        const before = await nodeInfo(name);
        assert.ok(before);
        await lb(role).run(['apt', 'install', '-y', deb]);
        await waitReconnected(name, before.bootId, upgrade.version);
      }
    });
    assert.match(await lb('lb2').run(['lbha-agent', '--version']), new RegExp(`^lbha-agent ${upgrade.version.replace(/\+/g, '\\+')} `));
  });

  it('systemctl reload re-reads the configuration, applies what it can and names what needs a restart', async () => {
    const agent = lb('lb1');
    const pidBefore = (await agent.run(['systemctl', 'show', '-p', 'MainPID', '--value', 'lbha-agent'])).trim();
    const file = agent.path('/etc/lbha/agent.yaml');
    const original = readFileSync(file, 'utf8');
    writeFileSync(file, `${original.replace(/^metrics:\n {2}listen: .*$/m, 'metrics:\n  listen: "127.0.0.1:9947"')}log:\n  level: debug\n`);
    await agent.run(['systemctl', 'reload', 'lbha-agent']);
    const reloaded = await waitFor('the agent to log its reload', async () => {
      const line = (await journal('lb1', 'lbha-agent')).find((l) => l.includes('"event":"config.reloaded"'));
      return line ? { done: true, value: JSON.parse(line) as { applied: string[]; needRestart: string[]; msg: string } } : { done: false, observed: 'no config.reloaded yet' };
    });
    log(`agent: ${reloaded.msg}`);
    assert.deepEqual(reloaded.applied, ['log.level']);
    assert.deepEqual(reloaded.needRestart, ['metrics']);
    assert.equal((await agent.run(['systemctl', 'show', '-p', 'MainPID', '--value', 'lbha-agent'])).trim(), pidBefore, 'a reload restarted the agent');
    writeFileSync(file, `${original}bogus: 1\n`);
    await agent.run(['systemctl', 'reload', 'lbha-agent']);
    await waitFor('the agent to refuse the broken file', async () => {
      const line = (await journal('lb1', 'lbha-agent')).find((l) => l.includes('"event":"config.reload_refused"'));
      return line ? { done: true, value: undefined } : { done: false, observed: 'not yet' };
    });
    assert.equal((await agent.exec(['systemctl', 'is-active', 'lbha-agent'])).stdout.trim(), 'active');
    writeFileSync(file, original);

    const conf = coord().path('/etc/lbha/coordinator.yaml');
    const cOriginal = readFileSync(conf, 'utf8');
    writeFileSync(conf, `${cOriginal.replace(/^webhooks:\n(?: .*\n)*/m, '')}log:\n  level: debug\n`);
    await coord().run(['systemctl', 'reload', 'lbha-coordinator']);
    const c = await waitFor('the coordinator to log its reload', async () => {
      const line = (await journal('coord', 'lbha-coordinator')).find((l) => l.includes('"event":"config.reloaded"'));
      return line ? { done: true, value: JSON.parse(line) as { applied: string[]; msg: string } } : { done: false, observed: 'no config.reloaded yet' };
    });
    log(`coordinator: ${c.msg}`);
    assert.deepEqual(c.applied, ['log.level', 'webhooks']);
    writeFileSync(conf, cOriginal);
  });

  it('purging the packages removes what they made and leaves keepalived serving', async () => {
    const node = lb('lb2');
    await node.run(['apt', 'purge', '-y', 'lbha-agent']);
    for (const p of ['/etc/lbha/agent.yaml', '/var/lib/lbha', '/usr/lib/lbha-agent', '/lib/systemd/system/lbha-agent.service', '/usr/bin/lbha-agent']) {
      assert.equal((await node.exec(['test', '-e', p])).code, 1, `${p} is left after purge`);
    }
    assert.equal((await node.exec(['systemctl', 'is-active', 'keepalived'])).stdout.trim(), 'active');
    assert.deepEqual(await cluster.holdersOf(VIP2), ['lb2'], 'the purge moved a VIP');
    await coord().run(['apt', 'purge', '-y', 'lbha-coordinator', 'lbha']);
    assert.equal((await coord().exec(['getent', 'passwd', 'lbha'])).code, 2, 'the lbha user is left after purge');
    assert.equal((await coord().exec(['test', '-e', '/var/lib/lbha'])).code, 1);
  });
});
