// Watches VRRP on the node's segments through nftables (vrrp-watch-ruleset.ts): which routers
// that are not nodes of the cluster advertise the cluster's VRIDs (source, VRID, priority), and
// which VRIDs this node itself still advertises. The tables follow the desired state; their sets
// are read every READ_MS, through one long-lived `nft -j -i` (nft-reader.ts) rather than a fork
// of `nft` per reading. A foreign router stays known for KNOWN_MS after its last advert, so a
// router that advertises rarely (or went BACKUP) is still named.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DesiredState, ForeignRouter, Logger } from '@lbha/shared';
import { describeOutcome, type CommandRunner } from '../util/run-command.js';
import { NftReader } from './nft-reader.js';
import { familyOf, parseVrrpWatch, sentKey, sentTimeoutS, VRRP_WATCH_TABLE, vrrpWatchRuleset, type Family, type VrrpWatchSpec } from './vrrp-watch-ruleset.js';

export interface VrrpWatchOptions {
  readonly nftProgram: string;
  readonly run: CommandRunner;
  readonly logger: Logger;
  /** Where rulesets are written for `nft -f`. */
  readonly workDir: string;
  readonly now: () => number;
  /** The foreign routers or the adverts sent changed. */
  readonly onChange: () => void;
  /** Reads the tables (default: a session of `nftProgram` that falls back to `run`). */
  readonly reader?: NftReader;
}

/** How often the sets are read. */
export const READ_MS = 2_000;
/** A foreign router is reported this long after its last advert. */
export const KNOWN_MS = 60_000;

/** The watch spec of a desired state, or undefined when the coordinator sent no node addresses. */
export function watchSpec(d: DesiredState | undefined): VrrpWatchSpec | undefined {
  const nodes = d?.keepalived.clusterAddresses ?? [];
  if (!d || d.instances.length === 0 || nodes.length === 0) return undefined;
  const byIface = new Map<string, number[]>();
  for (const i of d.instances) byIface.set(i.interface, [...(byIface.get(i.interface) ?? []), i.vrid]);
  return {
    nodes,
    interfaces: [...byIface].map(([iface, vrids]) => ({ interface: iface, vrids })),
    block: d.keepalived.blockForeignRouters === true,
    sentTimeoutS: sentTimeoutS(d.keepalived.advertIntMs),
  };
}

export class VrrpWatch {
  private spec: VrrpWatchSpec | undefined;
  private families: readonly Family[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** "interface/vrid" -> source -> what was last seen. */
  private readonly known = new Map<string, Map<string, ForeignRouter>>();
  private sentNow: ReadonlySet<string> = new Set();
  private sentReadAt = 0;
  private reading = false;
  private key = '';

  private readonly reader: NftReader;

  constructor(private readonly opts: VrrpWatchOptions) {
    this.reader = opts.reader ?? new NftReader({ nftProgram: opts.nftProgram, run: opts.run });
  }

  /** Loads (or removes) the tables for `d`; reads the sets while there is something to watch. */
  async follow(d: DesiredState | undefined): Promise<void> {
    const spec = watchSpec(d);
    const key = JSON.stringify(spec ?? null);
    if (key === this.key) return;
    const families: Family[] = spec ? [...new Set(d?.instances.map((i) => familyOf(i.vip.split('/')[0] as string)) ?? [])] : [];
    for (const f of [4, 6] as const) {
      if (families.includes(f) && spec) await this.load(f, spec);
      else if (this.families.includes(f) || this.key === '') await this.opts.run(this.opts.nftProgram, ['delete', 'table', f === 6 ? 'ip6' : 'ip', VRRP_WATCH_TABLE], { timeoutMs: 5_000 });
    }
    this.key = key;
    this.spec = spec;
    this.families = families;
    if (spec && !this.timer) {
      this.timer = setInterval(() => void this.read(), READ_MS);
      this.timer.unref();
    } else if (!spec && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Per "interface/vrid": the foreign routers seen within KNOWN_MS. */
  foreign(iface: string, vrid: number): readonly ForeignRouter[] {
    return [...(this.known.get(sentKey(iface, vrid))?.values() ?? [])];
  }

  /**
   * Whether this node advertised VRID `vrid` on `iface` within the last second, as of the last
   * reading (undefined: no reading yet, or nothing watched).
   */
  sent(iface: string, vrid: number): { readonly sent: boolean; readonly readAtMs: number } | undefined {
    return this.spec && this.sentReadAt > 0 ? { sent: this.sentNow.has(sentKey(iface, vrid)), readAtMs: this.sentReadAt } : undefined;
  }

  /** Reads the sets now (also the periodic reading). */
  async read(): Promise<void> {
    if (this.reading || !this.spec) return;
    this.reading = true;
    try {
      const now = this.opts.now();
      const sent = new Set<string>();
      const seen = new Map<string, Map<string, ForeignRouter>>();
      for (const f of this.families) {
        const r = await this.reader.list(['list', 'table', f === 6 ? 'ip6' : 'ip', VRRP_WATCH_TABLE]);
        if (r.exitCode !== 0) continue;
        const reading = parseVrrpWatch(r.stdout);
        for (const k of reading.sent) sent.add(k);
        for (const a of reading.foreign) {
          const k = sentKey(a.interface, a.vrid);
          const per = seen.get(k) ?? new Map<string, ForeignRouter>();
          seen.set(k, per);
          // A router whose priority changed has an older element still waiting to expire: keep the highest.
          const prev = per.get(a.source);
          if (!prev || a.priority > prev.priority) per.set(a.source, { source: a.source, priority: a.priority, lastSeenMs: now });
        }
      }
      const changed = this.merge(seen, now) || !sameSet(sent, this.sentNow);
      this.sentNow = sent;
      this.sentReadAt = now;
      if (changed) this.opts.onChange();
    } finally {
      this.reading = false;
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.reader.close();
  }

  /** Removes the tables (the agent stops watching for good, e.g. no instances left). */
  async remove(): Promise<void> {
    await this.follow(undefined);
  }

  private merge(seen: Map<string, Map<string, ForeignRouter>>, now: number): boolean {
    let changed = false;
    for (const [k, per] of seen) {
      const known = this.known.get(k) ?? new Map<string, ForeignRouter>();
      this.known.set(k, known);
      for (const [source, r] of per) {
        const before = known.get(source);
        if (!before) this.opts.logger.warn({ event: 'vrrp.foreign_router', interface: k.split('/')[0], vrid: Number(k.split('/')[1]), source, priority: r.priority }, `${source} advertises VRID ${k.split('/')[1]} with priority ${r.priority}; it is not a node of the cluster`);
        if (!before || before.priority !== r.priority) changed = true;
        known.set(source, r);
      }
    }
    for (const [k, known] of this.known) {
      for (const [source, r] of known) {
        if (now - r.lastSeenMs <= KNOWN_MS) continue;
        known.delete(source);
        changed = true;
      }
      if (known.size === 0) this.known.delete(k);
    }
    return changed;
  }

  private async load(f: Family, spec: VrrpWatchSpec): Promise<void> {
    await mkdir(this.opts.workDir, { recursive: true });
    const file = join(this.opts.workDir, `vrrp-watch-${f}.nft`);
    await writeFile(file, vrrpWatchRuleset(f, spec), { mode: 0o600 });
    const r = await this.opts.run(this.opts.nftProgram, ['-f', file], { timeoutMs: 10_000 });
    if (r.exitCode !== 0) this.opts.logger.error({ event: 'vrrp.watch_failed', family: f, error: describeOutcome(r) }, `cannot load the VRRP watch table: ${describeOutcome(r)}`);
  }
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}
