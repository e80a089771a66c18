// Which addresses each interface holds, from `ip -j addr show`, re-read when netlink reports
// an address change (and every few seconds as a safety net). VIP presence is a fact read
// from the kernel, never inferred from keepalived's logs.
import { sameAddress, type Logger } from '@lbha/shared';
import type { CommandRunner } from '../util/run-command.js';
import type { NetlinkEvent } from './netlink-monitor.js';

export type AddressMap = ReadonlyMap<string, ReadonlySet<string>>;

/** Whether `ifname` holds `address` (an IP address without prefix length). */
export function holdsAddress(addresses: AddressMap, ifname: string, address: string): boolean {
  for (const a of addresses.get(ifname) ?? []) if (sameAddress(a.slice(0, a.lastIndexOf('/')), address)) return true;
  return false;
}

interface IpAddrJson {
  ifname?: string;
  addr_info?: Array<{ local?: string; prefixlen?: number }>;
}

/** Parses `ip -j addr show` into interface -> {"a.b.c.d/nn", ...}. */
export function parseIpAddrJson(text: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  let data: IpAddrJson[];
  try {
    data = JSON.parse(text) as IpAddrJson[];
  } catch {
    return out;
  }
  for (const link of Array.isArray(data) ? data : []) {
    if (!link.ifname) continue;
    const set = new Set<string>();
    for (const a of link.addr_info ?? []) if (a.local) set.add(`${a.local}/${a.prefixlen ?? 0}`);
    out.set(link.ifname, set);
  }
  return out;
}

export class AddressWatcher {
  private current: Map<string, Set<string>> = new Map();
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private reading: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly opts: {
      readonly ipProgram: string;
      readonly run: CommandRunner;
      readonly events: { subscribe(l: (e: NetlinkEvent) => void): () => void } | undefined;
      readonly pollMs: number;
      readonly logger: Logger;
      readonly onChange: () => void;
    },
  ) {}

  addresses(): AddressMap {
    return this.current;
  }

  async start(): Promise<void> {
    await this.read();
    this.unsubscribe = this.opts.events?.subscribe((e) => {
      if (e.type !== 'address' && !(e.type === 'link' && e.deleted)) return;
      if (this.debounce) return;
      this.debounce = setTimeout(() => {
        this.debounce = undefined;
        void this.read();
      }, 10);
    });
    this.timer = setInterval(() => void this.read(), this.opts.pollMs);
    this.timer.unref();
  }

  stop(): void {
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
  }

  /** Re-reads now; concurrent calls coalesce into at most one more read. */
  read(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = (async () => {
      do {
        this.again = false;
        const r = await this.opts.run(this.opts.ipProgram, ['-j', 'addr', 'show'], { timeoutMs: 5_000 });
        if (r.exitCode !== 0) {
          this.opts.logger.warn({ event: 'net.addr_read_failed', output: r.output }, 'ip -j addr failed');
          continue;
        }
        const next = parseIpAddrJson(r.stdout);
        if (!sameMap(next, this.current)) {
          this.current = next;
          this.opts.onChange();
        }
      } while (this.again);
    })().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }
}

function sameMap(a: Map<string, Set<string>>, b: Map<string, Set<string>>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (!w || w.size !== v.size) return false;
    for (const x of v) if (!w.has(x)) return false;
  }
  return true;
}
