// The client's neighbour table over time: `ip -ts monitor neigh` in the client namespace, each
// change stamped by ip when it reads it. After a VIP moves (or a split brain heals), it tells
// from the client's side when packets for the VIP went to which MAC address: the only view that
// shows a VIP black-holed by a stale ARP entry while both nodes' addresses look right.
//
// ip runs under SCHED_FIFO (chrt): at normal priority on a loaded machine (load 15-19) it waits
// for a CPU before it reads a change and stamps it that much late. lbha's "converged" after a
// split brain comes from the holder's agent once it has sent its gratuitous ARP, which reaches the
// client before the agent's report can reach the coordinator; a converged stamped 25 ms ahead
// of the client's entry was the monitor's late read.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Lab } from './lab.js';
import { neighbourEntry, type NeighbourEntry } from './client-tools.js';

export interface NeighbourChange {
  /** Epoch ms when `ip monitor` read the change from the kernel. */
  readonly t: number;
  readonly address: string;
  /** Link-layer address; absent while unresolved or failed. */
  readonly mac: string | undefined;
  readonly state: string;
  /** The entry was deleted. */
  readonly deleted: boolean;
}

// "192.168.20.28 dev eth1 lladdr 12:c6:ae:ee:2e:ad STALE", "Deleted 192.168.20.28 dev eth1 ...",
// each after `ip -ts`'s "[2026-12-03T22:34:27.345373] " (local time, when ip read the change).
const LINE = /^(?:\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})\d*\] )?(Deleted )?(\S+) dev \S+(?: lladdr ([0-9a-f:]{17}))?(?: router)?(?: proxy)? ?([A-Z_ ,]*)$/;

/** One line of `ip [-ts] monitor neigh`; `t` is used when the line carries no time stamp. */
export function parseNeighbourLine(line: string, t: number): NeighbourChange | undefined {
  const m = LINE.exec(line.trim());
  if (!m) return undefined;
  // Without an offset, Date.parse reads the stamp as local time, which is what ip writes.
  const stamped = m[1] === undefined ? Number.NaN : Date.parse(m[1]);
  return { t: Number.isFinite(stamped) ? stamped : t, address: m[3] as string, mac: m[4], state: (m[5] ?? '').trim(), deleted: m[2] !== undefined };
}

export class NeighbourWatch {
  private readonly changes: NeighbourChange[] = [];

  private constructor(
    private readonly proc: ChildProcess,
    /** The entries when the watch started. */
    readonly initial: ReadonlyMap<string, NeighbourEntry | undefined>,
  ) {}

  /** Starts watching the client's entries for `addresses`. */
  static async start(lab: Lab, addresses: readonly string[]): Promise<NeighbourWatch> {
    const ns = lab.names.ns.client;
    // Stamped by ip as it reads each change: the test process may be busy when the line arrives.
    // Real-time priority: ip reads each change as the kernel makes it, not when a CPU is free.
    const proc = spawn('chrt', ['--fifo', '50', 'ip', 'netns', 'exec', ns, 'ip', '-ts', 'monitor', 'neigh'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const initial = new Map<string, NeighbourEntry | undefined>();
    for (const a of addresses) initial.set(a, await neighbourEntry(ns, a));
    const watch = new NeighbourWatch(proc, initial);
    const wanted = new Set(addresses);
    createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const c = parseNeighbourLine(line, Date.now());
      if (c && wanted.has(c.address)) watch.changes.push(c);
    });
    return watch;
  }

  /** Changes seen so far, in order. */
  all(): readonly NeighbourChange[] {
    return this.changes;
  }

  /** The MAC the client used for `address` at `t` (the last change at or before it, else the initial entry). */
  macAt(address: string, t: number): string | undefined {
    let mac = this.initial.get(address)?.mac;
    for (const c of this.changes) {
      if (c.address !== address || c.t > t) continue;
      mac = c.deleted ? undefined : (c.mac ?? mac);
    }
    return mac;
  }

  /** First time at or after `fromMs` the client's entry for `address` pointed at `mac` (undefined: never). */
  firstAt(address: string, mac: string, fromMs: number): number | undefined {
    if (this.macAt(address, fromMs) === mac) return fromMs;
    return this.changes.find((c) => c.address === address && c.t >= fromMs && !c.deleted && c.mac === mac)?.t;
  }

  stop(): void {
    this.proc.kill('SIGTERM');
  }
}
