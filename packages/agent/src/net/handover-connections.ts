// The outgoing side of a handover counts the TCP connections it still has open on the VIP once
// the VIP has left its interface: exactly the connections the new holder forwards to it. The
// coordinator ends the handover when the count reaches zero and keeps it open while it does not
// (docs/design/handover.md), instead of closing a fixed window on connections still in use.
// Before the move every connection on the VIP is this node's own, so nothing is counted then.
import { isIPv6 } from 'node:net';
import type { CommandRunner } from '../util/run-command.js';
import type { HandoverTask } from './handover-task.js';

/** TCP states in which the client may still send: all but listen, time-wait and closed. */
const OPEN_STATES = ['established', 'syn-recv', 'fin-wait-1', 'fin-wait-2', 'close-wait', 'last-ack', 'closing'];

/** An address as an `ss` filter takes it (IPv6 in brackets). */
export function ssAddress(address: string): string {
  return isIPv6(address) ? `[${address}]` : address;
}

/** How many sockets `ss -H` output names (one per non-empty line). */
export function ssCount(stdout: string): number {
  return stdout.split('\n').filter((l) => l.trim() !== '').length;
}

/** `ss` arguments listing the open TCP connections whose local address is `vip`. */
export function openConnectionsArgs(vip: string): string[] {
  return ['-Htn', ...OPEN_STATES.flatMap((s) => ['state', s]), 'src', ssAddress(vip)];
}

export interface HandoverConnectionsOptions {
  readonly ssProgram: string;
  readonly run: CommandRunner;
  readonly intervalMs: number;
  /** The handovers running now (only outgoing ones are counted). */
  readonly running: () => readonly HandoverTask[];
  /** Whether the task's VIP is on its interface now. */
  readonly present: (t: HandoverTask) => boolean;
  /** Called when a count changes. */
  readonly onChange: () => void;
}

export class HandoverConnections {
  private counts: ReadonlyMap<string, number> = new Map();
  private timer: NodeJS.Timeout | undefined;
  private looking = false;

  constructor(private readonly opts: HandoverConnectionsOptions) {}

  /** Counts every `intervalMs` until stop(). */
  start(): void {
    this.timer ??= setInterval(() => void this.look(), this.opts.intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Per instance: the open connections on the VIP of its outgoing handover, once the VIP has left. */
  current(): ReadonlyMap<string, number> {
    return this.counts;
  }

  /** One count (the timer calls it; tests may too). */
  async look(): Promise<void> {
    if (this.looking) return;
    this.looking = true;
    try {
      const next = new Map<string, number>();
      for (const t of this.opts.running()) {
        if (t.role !== 'outgoing' || this.opts.present(t)) continue;
        const r = await this.opts.run(this.opts.ssProgram, openConnectionsArgs(t.vip), { timeoutMs: 5_000 });
        if (r.exitCode === 0) next.set(t.instance, ssCount(r.stdout));
      }
      const changed = next.size !== this.counts.size || [...next].some(([k, v]) => this.counts.get(k) !== v);
      this.counts = next;
      if (changed) this.opts.onChange();
    } finally {
      this.looking = false;
    }
  }
}
