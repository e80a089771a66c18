// One test node booted with systemd as PID 1: systemd-nspawn on an overlay of the cached root
// file system, in a network namespace the test made (so its interfaces are the test's veth
// pairs on the test's own bridges, and it has no route out). Commands run inside through
// nsenter, with the container's mounts, pid namespace and network.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../lab/repo-paths.js';
import { runCommand, type CommandOutput, type RunOptions } from '../lab/run-command.js';
import { waitFor } from '@lbha/test-support';

export interface ContainerOptions {
  /** Machine name (also the hostname), unique on the host. */
  readonly machine: string;
  readonly hostname: string;
  readonly rootfs: string;
  /** Holds the overlay's upper and work dirs, the merged root and the console log. */
  readonly dir: string;
  /** Network namespace (`ip netns` name) the container runs in. */
  readonly netns: string;
  /** Host directories visible read-only inside, [host, container]. */
  readonly bindReadOnly?: ReadonlyArray<readonly [string, string]>;
}

const ENV = ['env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8', 'TERM=dumb', 'DEBIAN_FRONTEND=noninteractive'];

/** The merged root of a container directory (for cleanup of crashed runs). */
export const mergedRoot = (dir: string): string => join(dir, 'root');

const IN_CGROUPS = join(REPO_ROOT, 'test/systemd/in-cgroups.sh');

/**
 * This process's cgroup directory in every hierarchy systemd uses (v1 controllers, the named
 * systemd hierarchy, the unified one). cpuset is left out: a new v1 cpuset needs its CPUs set
 * before it takes a task, and no container's systemd manages it.
 */
export function ownCgroupDirs(): string[] {
  const dirs: string[] = [];
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const [, controllers = '', path = '/'] = line.split(':');
    if (controllers === 'cpuset') continue;
    const mount = controllers === '' ? '/sys/fs/cgroup/unified' : controllers === 'name=systemd' ? '/sys/fs/cgroup/systemd' : `/sys/fs/cgroup/${controllers}`;
    if (controllers === '' && !existsSync(join(mount, 'cgroup.procs'))) {
      // A pure cgroup v2 host: the unified hierarchy is /sys/fs/cgroup itself.
      if (existsSync('/sys/fs/cgroup/cgroup.procs')) dirs.push(join('/sys/fs/cgroup', path));
      continue;
    }
    if (existsSync(join(mount, 'cgroup.procs'))) dirs.push(join(mount, path));
  }
  return dirs;
}

/** Removes a container's cgroup directories, the subtrees its systemd made first. */
export function removeCgroups(dirs: readonly string[]): void {
  const remove = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) remove(join(dir, e.name));
    try {
      rmdirSync(dir);
    } catch {
      // Still has a process, or a half-gone one; a later cleanup tries again.
    }
  };
  for (const d of dirs) remove(d);
}

export class NodeContainer {
  private constructor(
    readonly options: ContainerOptions,
    /** The systemd-nspawn process. */
    readonly nspawnPid: number,
    private readonly exited: Promise<void>,
    private readonly cgroups: readonly string[],
  ) {}

  /** Host path of a file inside the container. */
  path(p: string): string {
    return join(mergedRoot(this.options.dir), p);
  }

  get consoleLog(): string {
    return join(this.options.dir, 'console.log');
  }

  /** Mounts the overlay, boots systemd and waits until `systemctl is-system-running` says running. */
  static async boot(options: ContainerOptions): Promise<NodeContainer> {
    const { dir } = options;
    for (const d of ['upper', 'work', 'root']) mkdirSync(join(dir, d), { recursive: true });
    const mount = await runCommand('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${options.rootfs},upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}`, mergedRoot(dir)]);
    if (mount.code !== 0) throw new Error(`mounting the overlay for ${options.machine}: ${mount.stderr}`);
    const log = openSync(join(dir, 'console.log'), 'a');
    const args = [
      '--quiet',
      '--keep-unit',
      '--register=no',
      '--boot',
      `--directory=${mergedRoot(dir)}`,
      `--machine=${options.machine}`,
      `--hostname=${options.hostname}`,
      `--network-namespace-path=/run/netns/${options.netns}`,
      // keepalived adds VIPs, nft loads the handover tables: the node administers its own network.
      '--capability=CAP_NET_ADMIN',
      '--console=passive',
      '--resolv-conf=off',
      '--timezone=off',
      ...(options.bindReadOnly ?? []).map(([host, inside]) => `--bind-ro=${host}:${inside}`),
    ];
    // Each container in cgroups of its own: with --keep-unit the container's systemd would
    // otherwise manage the caller's cgroup, shared by every container of the run, and a unit
    // stopped in one node would kill the same unit's processes in the others.
    const cgroups = ownCgroupDirs().map((d) => join(d, options.machine));
    for (const d of cgroups) mkdirSync(d, { recursive: true });
    // /proc/sys/net writable, as on a real node (sysctl sets the handover's ARP settings).
    const child = spawn(IN_CGROUPS, [...cgroups, '--', 'systemd-nspawn', ...args], { detached: true, stdio: ['ignore', log, log], env: { ...process.env, SYSTEMD_NSPAWN_API_VFS_WRITABLE: 'network' } });
    closeSync(log);
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    const container = new NodeContainer(options, child.pid ?? -1, exited, cgroups);
    try {
      await waitFor(`${options.machine} to boot`, async () => {
        if (container.leaderPid() === undefined) return { done: false, observed: 'no init process yet' };
        const r = await container.exec(['systemctl', 'is-system-running']);
        const state = r.stdout.trim();
        if (state === 'running') return { done: true, value: undefined };
        if (state === 'degraded') {
          const failed = await container.exec(['systemctl', '--failed', '--no-legend', '--plain']);
          const units = failed.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter((u): u is string => !!u);
          const logs = await container.exec(['journalctl', '-b', '--no-pager', '-n', '30', ...units.flatMap((u) => ['-u', u])]);
          throw new Error(`${options.machine} booted degraded: ${failed.stdout.trim()}\n${logs.stdout}`);
        }
        return { done: false, observed: state || r.stderr.trim() };
      }, { timeoutMs: 60_000, intervalMs: 200 });
    } catch (err) {
      const console = readFileSync(container.consoleLog, 'utf8').split('\n').slice(-20).join('\n');
      await container.stop();
      throw new Error(`${(err as Error).message}\nconsole:\n${console}`);
    }
    return container;
  }

  /** Host pid of the container's init (systemd), the child of systemd-nspawn. */
  leaderPid(): number | undefined {
    try {
      const children = readFileSync(`/proc/${this.nspawnPid}/task/${this.nspawnPid}/children`, 'utf8').trim().split(/\s+/);
      const pid = Number(children[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** Runs a program inside (argument array, clean environment); never throws for a non-zero exit. */
  async exec(args: readonly string[], options: RunOptions = {}): Promise<CommandOutput> {
    const leader = this.leaderPid();
    if (leader === undefined) return { code: null, stdout: '', stderr: `${this.options.machine} is not running` };
    return runCommand('nsenter', ['--target', String(leader), '--mount', '--uts', '--ipc', '--net', '--pid', '--root', '--wd', '--', ...ENV, ...args], { timeoutMs: 120_000, ...options });
  }

  /** Runs a program inside and returns stdout; throws with its output unless it exits 0. */
  async run(args: readonly string[], options: RunOptions = {}): Promise<string> {
    const r = await this.exec(args, options);
    if (r.code !== 0) throw new Error(`${this.options.machine}: ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** Powers the container off (SIGTERM to nspawn), SIGKILL after a grace period; unmounts and removes its files. */
  async stop(graceMs = 15_000): Promise<void> {
    await stopNspawn(this.nspawnPid, this.exited, graceMs);
    await removeContainerDir(this.options.dir);
    removeCgroups(this.cgroups);
  }
}

async function stopNspawn(pid: number, exited: Promise<void>, graceMs: number): Promise<void> {
  if (pid <= 0) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
      resolve();
    }, graceMs);
  });
  await Promise.race([exited, killed]);
  clearTimeout(timer);
  await exited;
}

/** Unmounts a container's overlay (if mounted) and removes its directory. */
export async function removeContainerDir(dir: string): Promise<void> {
  const root = mergedRoot(dir);
  for (let i = 0; i < 3; i++) {
    const r = await runCommand('umount', [root]);
    if (r.code !== 0) break;
  }
  const mounted = readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === root);
  if (mounted) await runCommand('umount', ['--lazy', root]);
  rmSync(dir, { recursive: true, force: true });
}
