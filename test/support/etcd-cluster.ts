// A real 3-member etcd cluster on loopback for tests: Debian's /usr/bin/etcd, a unique temp data
// dir per member, free client/peer ports, fast election timeouts, and helpers to kill, stop,
// pause and resume members. Every cluster is removed by stop() (call it in after()), and a
// process-exit hook kills members a crashed test left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statfsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts, sleep } from '@lbha/test-support';
import { Etcd3 } from 'etcd3';

export const ETCD_BIN = process.env['LBHA_ETCD_BIN'] ?? '/usr/bin/etcd';

/** Why etcd tests cannot run here, or undefined. */
export function etcdUnavailableReason(): string | undefined {
  return existsSync(ETCD_BIN) ? undefined : `${ETCD_BIN} is not installed (apt-get install etcd-server)`;
}

export interface EtcdClusterOptions {
  readonly members?: number;
  /** etcd's --heartbeat-interval and --election-timeout, in ms. */
  readonly heartbeatMs?: number;
  readonly electionMs?: number;
  /** etcd's --max-request-bytes; 0 (default): etcd's own (1.5 MiB). */
  readonly maxRequestBytes?: number;
  /**
   * How each member is started: the command and its arguments in, the ones to run out (e.g.
   * under taskset, on cores of its own). Default: as they are.
   */
  readonly wrap?: (command: string, args: readonly string[]) => [string, string[]];
}

export type MemberState = 'running' | 'paused' | 'stopped';

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  state: MemberState;
  child: ChildProcess | undefined;
  /** The last lines etcd wrote (for failure messages). */
  readonly output: string[];
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Blocks until /proc shows the process stopped (state T), for at most two seconds. */
function waitStopped(pid: number): void {
  const deadline = Date.now() + 2000;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (Date.now() < deadline) {
    let state = '';
    try {
      state = /\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1] ?? '';
    } catch {
      return; // gone
    }
    if (state === 'T' || state === 't') return;
    Atomics.wait(pause, 0, 0, 1);
  }
}

function shmHasRoom(bytes: number): boolean {
  try {
    const st = statfsSync('/dev/shm');
    return st.bavail * st.bsize >= bytes;
  } catch {
    return false;
  }
}

export class EtcdCluster {
  readonly members: EtcdMember[];
  private readonly root: string;

  private constructor(
    root: string,
    members: EtcdMember[],
    private readonly opts: Required<EtcdClusterOptions>,
  ) {
    this.root = root;
    this.members = members;
  }

  /** Starts the members and waits until the cluster answers a linearizable read. */
  static async start(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
    const opts: Required<EtcdClusterOptions> = { members: 3, heartbeatMs: 100, electionMs: 1000, maxRequestBytes: 0, wrap: (command, args) => [command, [...args]], ...options };
    // tmpfs when it has room (etcd preallocates a 64 MB WAL per member): etcd fsyncs every
    // write, and a busy disk makes elections flap.
    const base = shmHasRoom(opts.members * 128 * 1024 * 1024) ? '/dev/shm' : tmpdir();
    const root = mkdtempSync(join(base, 'lbha-etcd-'));
    const ports = await freePorts(opts.members * 2);
    const members: EtcdMember[] = [];
    for (let i = 0; i < opts.members; i++) {
      members.push({
        name: `m${i + 1}`,
        clientUrl: `http://127.0.0.1:${ports[2 * i]}`,
        peerUrl: `http://127.0.0.1:${ports[2 * i + 1]}`,
        dataDir: join(root, `m${i + 1}`),
        state: 'stopped',
        child: undefined,
        output: [],
      });
    }
    const cluster = new EtcdCluster(root, members, opts);
    try {
      for (const m of members) cluster.spawn(m);
      await cluster.waitHealthy();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Client URLs of every member, for the coordinators' `store.endpoints`. */
  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  member(name: string): EtcdMember {
    const m = this.members.find((x) => x.name === name);
    if (!m) throw new Error(`no etcd member ${name}`);
    return m;
  }

  private spawn(m: EtcdMember): void {
    const initialCluster = this.members.map((x) => `${x.name}=${x.peerUrl}`).join(',');
    const args = [
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', m.clientUrl,
      '--advertise-client-urls', m.clientUrl,
      '--listen-peer-urls', m.peerUrl,
      '--initial-advertise-peer-urls', m.peerUrl,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', `lbha-test-${process.pid}-${this.root.slice(-6)}`,
      '--heartbeat-interval', String(this.opts.heartbeatMs),
      '--election-timeout', String(this.opts.electionMs),
      '--logger', 'zap',
      '--log-outputs', 'stderr',
      '--log-level', 'warn',
      ...(this.opts.maxRequestBytes > 0 ? ['--max-request-bytes', String(this.opts.maxRequestBytes)] : []),
    ];
    // taskset execs the command: the child's pid is the member's either way.
    const [command, commandArgs] = this.opts.wrap(ETCD_BIN, args);
    const child = spawn(command, commandArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
    live.add(child);
    m.child = child;
    m.state = 'running';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      m.output.push(...d.split('\n').filter(Boolean));
      if (m.output.length > 50) m.output.splice(0, m.output.length - 50);
    });
    child.on('exit', () => {
      live.delete(child);
      if (m.child === child) {
        m.child = undefined;
        m.state = 'stopped';
      }
    });
  }

  /** Waits until a linearizable read through `endpoints` succeeds (a quorum is up). */
  async waitHealthy(endpoints: readonly string[] = this.endpoints.filter((_, i) => this.members[i]?.state === 'running'), timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const client = new Etcd3({ hosts: [...endpoints], dialTimeout: 2000 });
    let lastErr: unknown;
    try {
      while (Date.now() < deadline) {
        try {
          await client.get('lbha-test/health').options({ deadline: Date.now() + 2000 }).string();
          return;
        } catch (err) {
          lastErr = err;
          await sleep(100);
        }
      }
    } finally {
      client.close();
    }
    const logs = this.members.map((m) => `${m.name} (${m.state}):\n  ${m.output.slice(-5).join('\n  ')}`).join('\n');
    throw new Error(`etcd cluster not healthy after ${timeoutMs}ms: ${String(lastErr)}\n${logs}`);
  }

  /** SIGKILLs a member and waits for it to exit. */
  async kill(name: string): Promise<void> {
    await this.signalAndWait(this.member(name), 'SIGKILL');
  }

  /** SIGTERMs a member and waits for it to exit. */
  async stopMember(name: string): Promise<void> {
    await this.signalAndWait(this.member(name), 'SIGTERM');
  }

  private async signalAndWait(m: EtcdMember, signal: NodeJS.Signals): Promise<void> {
    const child = m.child;
    if (!child) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    if (m.state === 'paused') child.kill('SIGCONT');
    child.kill(signal);
    await exited;
  }

  /** Freezes a member (SIGSTOP): its sockets stay open but it answers nothing. */
  pause(name: string): void {
    const m = this.member(name);
    if (m.child && m.state === 'running') {
      m.child.kill('SIGSTOP');
      m.state = 'paused';
      // kill() only queues the signal: wait until the kernel shows the member stopped, so a request
      // sent right after this cannot still be answered by it.
      waitStopped(m.child.pid as number);
    }
  }

  resume(name: string): void {
    const m = this.member(name);
    if (m.child && m.state === 'paused') {
      m.child.kill('SIGCONT');
      m.state = 'running';
    }
  }

  /** Starts a stopped or killed member again on its data dir (it rejoins with its old identity). */
  restart(name: string): void {
    const m = this.member(name);
    if (m.state !== 'stopped') throw new Error(`etcd member ${name} is ${m.state}`);
    this.spawn(m);
  }

  /** The name of the member that is raft leader now, or undefined. */
  async leaderName(): Promise<string | undefined> {
    for (const m of this.members) {
      if (m.state !== 'running') continue;
      const client = new Etcd3({ hosts: [m.clientUrl], dialTimeout: 1000 });
      try {
        const st = await client.maintenance.status({ deadline: Date.now() + 1000 });
        const members = await client.cluster.memberList({}, { deadline: Date.now() + 1000 });
        return members.members.find((x) => x.ID === st.leader)?.name;
      } catch {
        // try the next member
      } finally {
        client.close();
      }
    }
    return undefined;
  }

  /** Kills every member and removes the data dirs. Safe to call twice. */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => this.signalAndWait(m, 'SIGKILL')));
    rmSync(this.root, { recursive: true, force: true });
  }
}
