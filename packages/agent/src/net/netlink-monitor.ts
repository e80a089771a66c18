// Link and address changes as events, from `ip -o monitor link address` (one line per
// netlink message). The lines only say *that* something changed; consumers confirm by
// reading sysfs or `ip -j addr`, so a parse miss costs a poll interval, never a wrong state.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from '@lbha/shared';
import { Backoff } from '../util/backoff.js';

export type NetlinkEvent =
  | { readonly type: 'link'; readonly ifname: string; readonly deleted: boolean }
  | { readonly type: 'address'; readonly ifname: string; readonly deleted: boolean };

const LINK = /^(Deleted )?\d+: ([^:@\s]+)(?:@[^:\s]+)?: <[^>]*>/;
const ADDRESS = /^(Deleted )?\d+: (\S+)\s+inet6? /;

/** Parses one line of `ip -o monitor link address`; undefined for lines of no interest. */
export function parseMonitorLine(line: string): NetlinkEvent | undefined {
  const l = line.replace(/^\[[A-Z]+\]\s*/, '');
  const link = LINK.exec(l);
  if (link) return { type: 'link', ifname: link[2] as string, deleted: link[1] !== undefined };
  const addr = ADDRESS.exec(l);
  if (addr) return { type: 'address', ifname: addr[2] as string, deleted: addr[1] !== undefined };
  return undefined;
}

export interface NetlinkMonitorOptions {
  readonly ipBinary: string;
  readonly logger: Logger;
}

export class NetlinkMonitor {
  private child: ChildProcess | undefined;
  private readonly listeners = new Set<(e: NetlinkEvent) => void>();
  private stopped = true;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly backoff = new Backoff({ firstMs: 100, initialMs: 500, maxMs: 10_000 });

  constructor(private readonly opts: NetlinkMonitorOptions) {}

  subscribe(listener: (e: NetlinkEvent) => void): () => void {
    this.listeners.add(listener);
    if (this.stopped) this.start();
    return () => {
      this.listeners.delete(listener);
    };
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.spawn();
  }

  stop(): void {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.child?.kill('SIGTERM');
    this.child = undefined;
  }

  private spawn(): void {
    const child = spawn(this.opts.ipBinary, ['-o', 'monitor', 'link', 'address'], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.child = child;
    const started = Date.now();
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      const e = parseMonitorLine(line);
      if (!e) return;
      for (const l of this.listeners) l(e);
    });
    child.on('error', (err) => this.opts.logger.warn({ event: 'netlink.monitor_error', err: err.message }, 'ip monitor failed'));
    child.on('exit', (code, signal) => {
      rl.close();
      if (this.child === child) this.child = undefined;
      if (this.stopped) return;
      if (Date.now() - started > 30_000) this.backoff.reset();
      const delay = this.backoff.next();
      this.opts.logger.warn({ event: 'netlink.monitor_exited', code, signal, retryMs: delay }, 'ip monitor exited; restarting');
      this.restartTimer = setTimeout(() => this.spawn(), delay);
      this.restartTimer.unref();
    });
    child.unref();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
  }
}
