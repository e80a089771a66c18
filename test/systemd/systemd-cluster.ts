// Seed 1 on nodes booted with systemd: two LB nodes and a coordinator node as containers, each
// installed from the Debian packages and configured the way docs/install.md tells an operator;
// the web servers and the client are plain network namespaces. Everything lives in namespaces
// named `lbha-t-<pid>-...` on bridges in the test's own fabric namespace: nothing is attached to
// a host interface and there is no route out.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { cleanupRuns, removeLeftoverNamespaces } from '../lab/cleanup.js';
import { renderWebNginx } from '../lab/daemon-configs.js';
import { spawnLabProcess, type LabProcess } from '../lab/lab-process.js';
import { scratchNamespace } from '../lab/lab-names.js';
import { deleteNamespaces, killNamespaceProcesses } from '../lab/network.js';
import { readProbeFile, type ProbeRecord } from '../lab/probe-records.js';
import { REPO_ROOT } from '../lab/repo-paths.js';
import { isProcessAlive } from '../lab/run-registry.js';
import { ipIn, runChecked, runCommand, runInNamespace } from '../lab/run-command.js';
import { TOPOLOGY_A } from '../lab/topology.js';
import { waitFor } from '@lbha/test-support';
import { NodeContainer, ownCgroupDirs, removeCgroups, removeContainerDir } from './node-container.js';
import { nodeRootfs, type Rootfs } from './rootfs-cache.js';

export type SdNode = 'lb1' | 'lb2' | 'coord';
const LB_NAMES = { lb1: 'nginx-lb01', lb2: 'nginx-lb02' } as const;
export type LbRole = keyof typeof LB_NAMES;
/** The coordinator's address on the inner segment, and the name the agents' example config dials. */
export const COORD_ADDRESS = '192.168.50.10';
export const COORD_NAME = 'lbha-coord.example.net';
const RUN_ROOT = '/var/tmp/lbha-systemd';
const PROBE_SCRIPT = join(REPO_ROOT, 'test/dist/lab/probe.js');

export interface Packages {
  readonly dir: string;
  readonly version: string;
  readonly agent: string;
  readonly coordinator: string;
  readonly cli: string;
}

/** Builds the Debian packages from this checkout with `npm run package` (deploy/package.sh). */
export async function buildPackages(out: string, version?: string): Promise<Packages> {
  const args = [join(REPO_ROOT, 'deploy/package.sh'), '--no-build', '--out', out, ...(version ? ['--version', version] : [])];
  const r = await runCommand('bash', args, { timeoutMs: 10 * 60_000, cwd: REPO_ROOT });
  if (r.code !== 0) throw new Error(`deploy/package.sh failed:\n${r.stderr}${r.stdout}`);
  return readPackages(out);
}

/** The packages in a directory deploy/package.sh wrote. */
export async function readPackages(out: string): Promise<Packages> {
  const files = readdirSync(out);
  const deb = (pkg: string): string => {
    const f = files.find((name) => name.startsWith(`${pkg}_`) && name.endsWith('.deb'));
    if (!f) throw new Error(`no ${pkg} package in ${out}: ${files.join(' ')}`);
    return f;
  };
  const agent = deb('lbha-agent');
  return { dir: out, version: agent.split('_')[1] as string, agent, coordinator: deb('lbha-coordinator'), cli: deb('lbha') };
}

/**
 * Removes what crashed runs left: their containers (nspawn processes and overlay mounts) and run
 * dirs, then their scratch namespaces. Runs of live processes are left alone.
 */
export async function cleanupStaleRuns(log: (line: string) => void): Promise<void> {
  for (const entry of existsSync(RUN_ROOT) ? readdirSync(RUN_ROOT) : []) {
    const m = /^(\d+)(-packages)?$/.exec(entry);
    if (!m || isProcessAlive(Number(m[1]))) continue;
    const runDir = join(RUN_ROOT, entry);
    if (m[2]) {
      rmSync(runDir, { recursive: true, force: true });
      continue;
    }
    log(`removing the systemd nodes of crashed run ${runDir}`);
    await removeRunDir(runDir);
  }
  // Scratch namespaces whose test process is gone (ours included): kills what runs in them.
  await cleanupRuns({ log });
  // The cgroups of crashed runs' containers (named lbha-<pid>-<node>), empty once their last
  // process has been reaped.
  const stale = (): string[] =>
    ownCgroupDirs().flatMap((parent) =>
      (existsSync(parent) ? readdirSync(parent) : []).filter((e) => {
        const m = /^lbha-(\d+)-[a-z0-9]+$/.exec(e);
        return m !== null && !isProcessAlive(Number(m[1]));
      }).map((e) => join(parent, e)),
    );
  await waitFor('the cgroups of crashed runs to go', () => {
    removeCgroups(stale());
    const left = stale();
    return left.length === 0 ? { done: true, value: undefined } : { done: false, observed: left.join(' ') };
  }, { timeoutMs: 10_000, intervalMs: 200 }).catch((err: Error) => log(err.message));
}

/** Kills the containers a run dir holds, unmounts their overlays and removes the dir. */
async function removeRunDir(runDir: string): Promise<void> {
  for (const pid of nspawnPidsUnder(runDir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
  await waitFor(`the containers of ${runDir} to exit`, async () => (nspawnPidsUnder(runDir).length === 0 ? { done: true, value: undefined } : { done: false, observed: 'still running' }), { timeoutMs: 15_000 });
  for (const node of existsSync(join(runDir, 'nodes')) ? readdirSync(join(runDir, 'nodes')) : []) await removeContainerDir(join(runDir, 'nodes', node));
  rmSync(runDir, { recursive: true, force: true });
}

function nspawnPidsUnder(runDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith('systemd-nspawn') && argv.some((a) => a.startsWith(`--directory=${runDir}/`))) pids.push(pid);
    } catch {
      // Exited while we looked.
    }
  }
  return pids;
}

interface Attachment {
  readonly ns: string;
  readonly iface: 'eth1' | 'eth2';
  readonly bridge: 'outer' | 'inner';
  readonly address: string;
}

export class SystemdCluster {
  readonly runDir = join(RUN_ROOT, String(process.pid));
  readonly ns = {
    fabric: scratchNamespace('sd-fab'),
    lb1: scratchNamespace('sd-lb1'),
    lb2: scratchNamespace('sd-lb2'),
    coord: scratchNamespace('sd-coord'),
    client: scratchNamespace('sd-client'),
    web1: scratchNamespace('sd-web1'),
    web2: scratchNamespace('sd-web2'),
  };
  readonly plan = TOPOLOGY_A;
  readonly nodes = new Map<SdNode, NodeContainer>();
  private readonly processes: LabProcess[] = [];
  private probes = 0;
  rootfs: Rootfs | undefined;

  constructor(private readonly log: (line: string) => void) {}

  node(n: SdNode): NodeContainer {
    const c = this.nodes.get(n);
    if (!c) throw new Error(`node ${n} is not running`);
    return c;
  }

  lbName(role: LbRole): string {
    return LB_NAMES[role];
  }

  /** Network, web servers and the three booted nodes (nothing of lbha installed yet). */
  async start(packages: Packages): Promise<void> {
    await cleanupStaleRuns(this.log);
    // A crashed run of an earlier process with this pid left its dir and namespaces under the
    // very names this run uses; cleanupStaleRuns keeps them, since their owner looks alive.
    if (existsSync(this.runDir)) {
      this.log(`removing the leftover run dir ${this.runDir} of an earlier process with this pid`);
      await removeRunDir(this.runDir);
    }
    const leftover = await removeLeftoverNamespaces(Object.values(this.ns));
    if (leftover.length > 0) this.log(`removed leftover namespaces of an earlier process with this pid: ${leftover.join(' ')}`);
    mkdirSync(this.runDir, { recursive: true });
    this.rootfs = await nodeRootfs({ log: this.log });
    await this.createNetwork();
    await this.startWebServers();
    const boot = async (n: SdNode): Promise<void> => {
      const c = await NodeContainer.boot({
        machine: `lbha-${process.pid}-${n}`,
        hostname: n === 'coord' ? 'lbha-coord' : LB_NAMES[n],
        rootfs: (this.rootfs as Rootfs).dir,
        dir: join(this.runDir, 'nodes', n),
        netns: this.ns[n],
        bindReadOnly: [[packages.dir, '/root/packages']],
      });
      this.nodes.set(n, c);
    };
    await Promise.all((['coord', 'lb1', 'lb2'] as const).map(boot));
  }

  private async createNetwork(): Promise<void> {
    const p = this.plan;
    const attachments: Attachment[] = [
      { ns: this.ns.client, iface: 'eth1', bridge: 'outer', address: p.client },
      { ns: this.ns.lb1, iface: 'eth1', bridge: 'outer', address: p.lbs.lb1.outer },
      { ns: this.ns.lb1, iface: 'eth2', bridge: 'inner', address: p.lbs.lb1.inner },
      { ns: this.ns.lb2, iface: 'eth1', bridge: 'outer', address: p.lbs.lb2.outer },
      { ns: this.ns.lb2, iface: 'eth2', bridge: 'inner', address: p.lbs.lb2.inner },
      { ns: this.ns.coord, iface: 'eth2', bridge: 'inner', address: COORD_ADDRESS },
      { ns: this.ns.web1, iface: 'eth1', bridge: 'inner', address: p.webs.web1.address },
      { ns: this.ns.web2, iface: 'eth1', bridge: 'inner', address: p.webs.web2.address },
    ];
    for (const ns of Object.values(this.ns)) {
      await runChecked('ip', ['netns', 'add', ns]);
      await ipIn(ns, ['link', 'set', 'lo', 'up']);
      await runInNamespace(ns, 'sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    }
    for (const bridge of ['outer', 'inner']) {
      // No STP, no forward delay, no multicast snooping: ports forward at once and VRRP adverts flood.
      await ipIn(this.ns.fabric, ['link', 'add', 'name', bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0']);
      await ipIn(this.ns.fabric, ['link', 'set', bridge, 'up']);
    }
    for (const [i, a] of attachments.entries()) {
      const port = `p${i}`;
      await ipIn(this.ns.fabric, ['link', 'add', port, 'type', 'veth', 'peer', 'name', a.iface, 'netns', a.ns]);
      await ipIn(this.ns.fabric, ['link', 'set', port, 'master', a.bridge, 'up']);
      await ipIn(a.ns, ['addr', 'add', `${a.address}/${p.prefix}`, 'dev', a.iface]);
      await ipIn(a.ns, ['link', 'set', a.iface, 'up']);
    }
  }

  private async startWebServers(): Promise<void> {
    for (const web of ['web1', 'web2'] as const) {
      const dir = join(this.runDir, web);
      const html = join(dir, 'html');
      mkdirSync(join(dir, 'tmp'), { recursive: true });
      mkdirSync(html, { recursive: true });
      writeFileSync(join(html, 'index.html'), `${this.plan.webs[web].page}\n`);
      // nginx's workers run as nobody and read the page below the run dir.
      for (const d of [RUN_ROOT, this.runDir, dir, html]) chmodSync(d, 0o755);
      const files = { dir, config: join(dir, 'nginx.conf'), pidFile: join(dir, 'nginx.pid'), errorLog: join(dir, 'error.log'), statsSocket: '' };
      writeFileSync(files.config, renderWebNginx(files, html));
      this.processes.push(spawnLabProcess({ name: `${web}-nginx`, ns: this.ns[web], command: '/usr/sbin/nginx', args: ['-c', files.config, '-e', files.errorLog, '-g', 'daemon off;'], logFile: join(dir, 'nginx.log') }));
    }
    for (const web of ['web1', 'web2'] as const) {
      const pidFile = join(this.runDir, web, 'nginx.pid');
      await waitFor(`${web} nginx`, async () => (existsSync(pidFile) ? { done: true, value: undefined } : { done: false, observed: 'no pid file' }), { timeoutMs: 10_000 });
    }
  }

  /** Copies a file from one node to another (what an operator does with scp). */
  copyBetween(from: SdNode, path: string, to: SdNode, dest: string, mode: number): void {
    const target = this.node(to).path(dest);
    cpSync(this.node(from).path(path), target);
    chmodSync(target, mode);
  }

  /** The LB nodes holding a VIP address, from the nodes' own interfaces. */
  async holdersOf(address: string): Promise<LbRole[]> {
    const out: LbRole[] = [];
    for (const role of ['lb1', 'lb2'] as const) {
      const r = await runCommand('ip', ['-n', this.ns[role], '-j', '-4', 'addr', 'show', 'dev', 'eth1']);
      const addrs = r.code === 0 ? (JSON.parse(r.stdout) as Array<{ addr_info: Array<{ local: string }> }>).flatMap((l) => l.addr_info.map((a) => a.local)) : [];
      if (addrs.includes(address)) out.push(role);
    }
    return out;
  }

  async waitForHolder(address: string, role: LbRole, timeoutMs = 30_000): Promise<void> {
    await waitFor(`${address} on ${role} alone`, async () => {
      const h = await this.holdersOf(address);
      return h.length === 1 && h[0] === role ? { done: true, value: undefined } : { done: false, observed: `held by [${h.join(', ')}]` };
    }, { timeoutMs, intervalMs: 50 });
  }

  /** A client in the client namespace sending a request every 10 ms (fresh connections, or one kept-alive connection). */
  async startProbe(address: string, keepAlive = false): Promise<{ stop(): Promise<ProbeRecord[]> }> {
    const n = ++this.probes;
    const file = join(this.runDir, `probe-${n}.jsonl`);
    const proc = spawnLabProcess({
      name: `probe-${n}`,
      ns: this.ns.client,
      command: process.execPath,
      args: [PROBE_SCRIPT, '--url', `http://${address}/`, '--host', this.plan.host, '--interval-ms', '10', '--timeout-ms', '1000', '--duration-ms', '180000', '--out', file, ...(keepAlive ? ['--keep-alive'] : [])],
      logFile: join(this.runDir, `probe-${n}.log`),
    });
    this.processes.push(proc);
    await waitFor(`probe ${n} to get a first answer`, async () => {
      const ok = (await readProbeFile(file)).some((r) => r.ok);
      return ok ? { done: true, value: undefined } : { done: false, observed: proc.isRunning() ? 'no answer yet' : 'probe exited' };
    }, { timeoutMs: 15_000 });
    return {
      stop: async () => {
        await proc.stop('SIGTERM', 5000);
        return readProbeFile(file);
      },
    };
  }

  /** `lbha ARGS` on the coordinator node, as the operator (the CLI reads ~/.config/lbha/cli.yaml). */
  async lbha(args: readonly string[]): Promise<string> {
    return this.node('coord').run(['lbha', ...args]);
  }

  /** Stops everything this run started and removes it; tolerant of a half-built run. */
  async down(): Promise<void> {
    // Every step runs whatever the one before it did: a container that would not stop or a
    // directory still busy must not leave the namespaces behind. Failures are reported at the end.
    const failures: unknown[] = [];
    const attempt = async (step: () => Promise<unknown>): Promise<void> => {
      await step().catch((err: unknown) => failures.push(err));
    };
    for (const p of this.processes) await attempt(() => p.stop('SIGTERM', 3000));
    for (const r of await Promise.allSettled([...this.nodes.values()].map((c) => c.stop()))) if (r.status === 'rejected') failures.push(r.reason);
    this.nodes.clear();
    const namespaces = Object.values(this.ns);
    await attempt(() => killNamespaceProcesses(namespaces));
    await attempt(() => deleteNamespaces(namespaces));
    await attempt(() => removeRunDir(this.runDir));
    if (failures.length > 0) throw new AggregateError(failures, `tearing down ${this.runDir}: ${failures.map((f) => (f instanceof Error ? f.message : String(f))).join('; ')}`);
  }
}
