// Two real agents, lb-a and lb-b, each in its node's network namespace with its own nginx (which
// answers "lb-<node>") and keepalived, started from a cached desired state with no coordinator.
// The test builds the network and writes each node's desired state; this keeps the files, the
// processes and the kernel's view of who holds the VIP.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DesiredState } from '@lbha/shared';
import { eventually } from '@lbha/test-support';
import { AGENT_ENV, AGENT_NODE_FLAGS } from '../../src/node-flags.js';
import type { NodeName } from './bridge-net.js';

// The agent as it ships: the bundle, with its flags and environment.
const AGENT = fileURLToPath(new URL('../../bundle/lbha-agent.js', import.meta.url));
const NODES = ['a', 'b'] as const;

/** An agent log entry, as far as the tests read it. */
export interface AgentLogEntry {
  readonly event?: string;
  readonly service?: string;
  readonly value?: number;
  readonly reason?: string;
}

export class AgentPair {
  private readonly agents: Record<NodeName, ChildProcess | undefined> = { a: undefined, b: undefined };

  /** `ns`: the node's namespace; `untilMs`: how long `until` waits. */
  constructor(
    private readonly root: string,
    private readonly ns: (n: NodeName) => string,
    private readonly vip: string,
    private readonly untilMs: number,
  ) {}

  dir(n: NodeName): string {
    return join(this.root, n);
  }

  /** The node's nginx config, agent config and cached desired state. */
  writeNode(n: NodeName, desired: DesiredState): void {
    const d = this.dir(n);
    mkdirSync(join(d, 'nginx'), { recursive: true });
    mkdirSync(join(d, 'state'), { recursive: true });
    writeFileSync(
      join(d, 'nginx', 'nginx.conf'),
      `worker_processes 1;
pid ${d}/nginx/nginx.pid;
error_log ${d}/nginx/error.log notice;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${d}/nginx/t1; proxy_temp_path ${d}/nginx/t2; fastcgi_temp_path ${d}/nginx/t3; uwsgi_temp_path ${d}/nginx/t4; scgi_temp_path ${d}/nginx/t5;
  server { listen 80; location / { return 200 "lb-${n}"; } }
}
`,
    );
    writeFileSync(
      join(d, 'agent.yaml'),
      `node: lb-${n}
cluster: web
coordinator: { addresses: ["unix://${this.root}/no-coordinator.sock"], backoff: { initial: 1s, max: 30s } }
tls: { insecure: true }
stateDir: ${d}/state
runtimeDir: ${d}/run
metrics: { listen: "" }
# Generous on a loaded CI machine: a restart in place must not be mistaken for a failure.
# A dead daemon's first restart comes after 500 ms (half of backoffInitial): keepalived killed on
# lb-a stays down long enough for lb-b to take the VIP. Restarted at once, it came back within
# 40 ms and took the VIP again (its priority is higher) before lb-b's master-down timer
# ran out, so "the peer holds the VIP meanwhile" could not be observed.
supervision: { restartGrace: 2s, backoffInitial: 1s }
services:
  nginx:
    configFile: ${d}/nginx/nginx.conf
    errorLog: ${d}/nginx/error.log
`,
    );
    writeFileSync(join(d, 'state', 'desired-state.json'), JSON.stringify(desired));
  }

  start(n: NodeName): void {
    const out = openSync(join(this.dir(n), 'agent.log'), 'a');
    this.agents[n] = spawn('ip', ['netns', 'exec', this.ns(n), process.execPath, ...AGENT_NODE_FLAGS, AGENT, '--config', join(this.dir(n), 'agent.yaml')], { stdio: ['ignore', out, out], env: { ...process.env, ...AGENT_ENV } });
  }

  async kill(n: NodeName, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const a = this.agents[n];
    if (!a || a.exitCode !== null) return;
    const gone = new Promise((r) => a.once('exit', r));
    a.kill(signal);
    await gone;
    this.agents[n] = undefined;
  }

  /** Kills both agents and the daemons they started. */
  async stop(): Promise<void> {
    for (const n of NODES) {
      await this.kill(n).catch(() => undefined);
      for (const svc of ['nginx', 'keepalived'] as const) {
        try {
          process.kill(-this.daemonPid(n, svc), 'SIGKILL');
        } catch {
          // not running
        }
      }
    }
  }

  /** Whether the node's eth1 has the VIP. */
  holds(n: NodeName): boolean {
    return spawnSync('ip', ['-n', this.ns(n), '-o', '-4', 'addr', 'show', 'dev', 'eth1'], { encoding: 'utf8' }).stdout.includes(` ${this.vip}/`);
  }

  daemonPid(n: NodeName, service: 'nginx' | 'keepalived'): number {
    return (JSON.parse(readFileSync(join(this.dir(n), 'run', `${service}.agent-pid`), 'utf8')) as { pid: number }).pid;
  }

  log(n: NodeName): string {
    return readFileSync(join(this.dir(n), 'agent.log'), 'utf8');
  }

  /** The agent's log entries after `offset` (a length of its log). */
  logSince(n: NodeName, offset: number): AgentLogEntry[] {
    return this.log(n)
      .slice(offset)
      .split('\n')
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as AgentLogEntry];
        } catch {
          return []; // a line still being written
        }
      });
  }

  /** Waits for `cond`; on a timeout, prints the end of both agents' logs. */
  until(cond: () => boolean, what: string): Promise<unknown> {
    return eventually(cond, what, this.untilMs).catch((err: Error) => {
      for (const n of NODES) process.stderr.write(`--- agent ${n}\n${this.log(n).split('\n').slice(-15).join('\n')}\n`);
      throw err;
    });
  }
}
