// Keeps the failover tables (failover-ruleset.ts) in line with the desired state, and flips VIPs
// in and out of their `given` set as the node's ability to serve them changes. Loading a table
// happens when the VIPs or peers change (rare); a flip is one line to a long-lived `nft -i`.
//
// A restarted agent adopts what it finds: the flows handed to the peer stay (the load keeps
// them), and so do the VIPs the previous run had given up, until the agent decides again.
//
// The peers' MAC addresses go in the tables (frames from a peer are never sent back to it). For
// an IPv6 peer the neighbour entry is also pinned: this node may hold the VIP on the interface,
// so a neighbour solicitation for the peer could leave from the VIP's address, and the peer's
// answer, addressed to a VIP it keeps on lo, would never leave the peer.
import { mkdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isIP } from 'node:net';
import type { Logger } from '@lbha/shared';
import { describeOutcome, type CommandRunner } from '../util/run-command.js';
import { deleteCommand, failoverRuleset, familyOf, givenCommand, listGivenArgs, parseSetElements, type Family, type FailoverTarget, type LoadMode } from './failover-ruleset.js';
import { NftSession } from './nft-session.js';
import { peerLinkAddress } from './peer-link-address.js';

export interface FailoverForwarderOptions {
  readonly nftProgram: string;
  readonly ipProgram: string;
  readonly run: CommandRunner;
  readonly logger: Logger;
  /** Where rulesets are written for `nft -f`. */
  readonly workDir: string;
  /** Runs the one-line UDP probe that makes the kernel resolve a peer (default: this node). */
  readonly nodeProgram?: string;
  /** Replaces the long-lived `nft -i` (tests). */
  readonly session?: Pick<NftSession, 'send' | 'close'>;
}

/** Marks the neighbour entries this module pins (ip neigh ... protocol), to find leftovers. */
const NEIGH_PROTO = '77';
const FAMILIES: readonly Family[] = [4, 6];
const IFNAME = /^[A-Za-z0-9_.@-]{1,15}$/;

/** Why a target cannot be forwarded, or undefined. */
export function failoverTargetProblem(t: FailoverTarget): string | undefined {
  if (!IFNAME.test(t.interface)) return `interface name ${JSON.stringify(t.interface)} cannot be used in an nftables rule`;
  if (!isIP(t.vip)) return `${JSON.stringify(t.vip)} is not an IP address`;
  if (isIP(t.peer) !== isIP(t.vip)) return `peer ${JSON.stringify(t.peer)} is not an address of the VIP's family`;
  return undefined;
}

export class FailoverForwarder {
  private readonly session: Pick<NftSession, 'send' | 'close'>;
  private targets: readonly FailoverTarget[] = [];
  private armedKey = '';
  private macs = new Map<string, string>();
  private given: readonly string[] = [];
  /** The first arm reads the `given` sets a previous run left, so that a restart does not flip them. */
  private adopted = false;
  private chain: Promise<unknown> = Promise.resolve();
  private retry: NodeJS.Timeout | undefined;

  constructor(private readonly opts: FailoverForwarderOptions) {
    this.session = opts.session ?? new NftSession({ nftProgram: opts.nftProgram, run: opts.run, logger: opts.logger });
  }

  /** Loads the tables for `targets` (none: removes them). Returns the problem per VIP that was left out. */
  arm(targets: readonly FailoverTarget[]): Promise<Map<string, string>> {
    return this.serial(async () => {
      const problems = new Map<string, string>();
      const ok = targets.filter((t) => {
        const p = failoverTargetProblem(t);
        if (p) problems.set(t.vip, p);
        return p === undefined;
      });
      await this.resolvePeers(ok);
      const key = JSON.stringify([ok, [...this.macs.entries()].sort()]);
      if (key === this.armedKey) return problems;
      if (!this.adopted) await this.adoptGiven();
      this.targets = ok;
      this.given = this.given.filter((v) => ok.some((t) => t.vip === v));
      for (const f of FAMILIES) {
        const mine = ok.filter((t) => familyOf(t.vip) === f);
        if (mine.length === 0) {
          await this.nft([deleteCommand(f)], true);
          continue;
        }
        const macs = [...new Set(mine.map((t) => this.macs.get(`${t.interface} ${t.peer}`)).filter((m): m is string => m !== undefined))];
        const err = await this.load(f, mine, macs);
        if (err) for (const t of mine) problems.set(t.vip, `nft refused the failover table: ${err}`);
      }
      this.armedKey = problems.size === 0 ? key : '';
      this.opts.logger.info({ event: 'failover.armed', vips: ok.map((t) => `${t.vip} -> ${t.peer}`) }, `new connections of ${ok.length} VIPs go to the peer whenever this node cannot serve them`);
      // A peer not resolved yet: try again shortly (its MAC keeps its frames from being sent back).
      if (ok.some((t) => !this.macs.has(`${t.interface} ${t.peer}`)) && !this.retry) {
        this.retry = setTimeout(() => {
          this.retry = undefined;
          this.armedKey = '';
          void this.arm(this.targets);
        }, 5_000);
        this.retry.unref();
      }
      return problems;
    });
  }

  /** Makes `vips` the VIPs whose new connections go to the peer whatever the local sockets. */
  give(vips: readonly string[]): void {
    const next = [...new Set(vips.filter((v) => this.targets.some((t) => t.vip === v)))].sort();
    if (JSON.stringify(next) === JSON.stringify(this.given)) return;
    const before = this.given;
    this.given = next;
    for (const f of FAMILIES) {
      if (!this.targets.some((t) => familyOf(t.vip) === f)) continue;
      const a = before.filter((v) => familyOf(v) === f);
      const b = next.filter((v) => familyOf(v) === f);
      if (JSON.stringify(a) !== JSON.stringify(b)) this.session.send(givenCommand(f, b));
    }
    this.opts.logger.info(
      { event: 'failover.given', vips: next },
      next.length > 0 ? `new connections of ${next.join(', ')} go to the peer` : 'new connections are served here again',
    );
  }

  /** The VIPs currently given to the peer. */
  givenVips(): readonly string[] {
    return this.given;
  }

  /** Stops the session; the tables stay (the kernel keeps handing dead listeners' connections over). */
  close(): void {
    if (this.retry) clearTimeout(this.retry);
    this.session.close();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async resolvePeers(targets: readonly FailoverTarget[]): Promise<void> {
    const pins = await this.pinnedPeers();
    const wanted = new Set(targets.filter((t) => familyOf(t.peer) === 6).map((t) => `${t.interface} ${t.peer}`));
    // Pins of peers no longer wanted (or left by a crashed run) go first.
    for (const p of pins) if (!wanted.has(`${p.dev} ${p.peer}`)) await this.ip(['-6', 'neigh', 'del', p.peer, 'dev', p.dev]);
    for (const t of targets) {
      const k = `${t.interface} ${t.peer}`;
      const mac = (await peerLinkAddress(this.opts, t.peer, t.interface, 10)) ?? this.macs.get(k);
      if (!mac) continue;
      this.macs.set(k, mac);
      if (familyOf(t.peer) === 6) await this.ip(['-6', 'neigh', 'replace', t.peer, 'lladdr', mac, 'dev', t.interface, 'nud', 'permanent', 'protocol', NEIGH_PROTO]);
    }
  }

  private async pinnedPeers(): Promise<Array<{ peer: string; dev: string }>> {
    const r = await this.opts.run(this.opts.ipProgram, ['-j', '-6', 'neigh', 'show'], { timeoutMs: 5_000 });
    try {
      const list = JSON.parse(r.stdout) as Array<{ dst?: string; dev?: string; protocol?: string }>;
      return list.flatMap((n) => (n.protocol === NEIGH_PROTO && n.dst && n.dev ? [{ peer: n.dst, dev: n.dev }] : []));
    } catch {
      return [];
    }
  }

  /**
   * Loads a family's table keeping its flows; a table nft cannot take that way (sets of another
   * shape, left by another version) is replaced. A flip sent while the load ran may have been
   * undone by it: the set is put right after.
   */
  private async load(f: Family, mine: readonly FailoverTarget[], macs: readonly string[]): Promise<string | undefined> {
    const rendered = this.given;
    let err: string | undefined;
    for (const mode of ['keep', 'replace'] as const satisfies readonly LoadMode[]) {
      err = await this.nftFile(f, failoverRuleset(f, mine, rendered, macs, mode));
      if (!err) break;
      if (mode === 'keep') this.opts.logger.warn({ event: 'failover.table_replaced', family: f, output: err }, `the failover table could not be updated in place, replacing it: ${err}`);
    }
    if (!err && JSON.stringify(rendered) !== JSON.stringify(this.given)) this.session.send(givenCommand(f, this.given));
    return err;
  }

  /** What the previous run had given up, as the kernel still has it. */
  private async adoptGiven(): Promise<void> {
    this.adopted = true;
    const found: string[] = [];
    for (const f of FAMILIES) {
      const r = await this.opts.run(this.opts.nftProgram, listGivenArgs(f), { timeoutMs: 5_000 });
      if (r.exitCode === 0) found.push(...parseSetElements(r.stdout));
    }
    if (found.length === 0) return;
    this.given = [...new Set([...this.given, ...found])].sort();
    this.opts.logger.info({ event: 'failover.adopted', vips: this.given }, `new connections of ${this.given.join(', ')} still go to the peer, as the previous run left them`);
  }

  private async nftFile(f: Family, text: string): Promise<string | undefined> {
    const file = join(this.opts.workDir, `failover-${f}.nft`);
    await mkdir(this.opts.workDir, { recursive: true, mode: 0o700 });
    await writeFile(file, text, { mode: 0o600 });
    const r = await this.opts.run(this.opts.nftProgram, ['-f', file], { timeoutMs: 10_000 });
    await unlink(file).catch(() => undefined);
    return r.exitCode === 0 ? undefined : describeOutcome(r);
  }

  private async nft(args: string[], missingOk: boolean): Promise<void> {
    const r = await this.opts.run(this.opts.nftProgram, args, { timeoutMs: 5_000 });
    if (r.exitCode !== 0 && !(missingOk && /No such file|does not exist/i.test(r.output))) {
      this.opts.logger.warn({ event: 'failover.nft_failed', args, output: describeOutcome(r) }, `nft ${args.join(' ')} failed`);
    }
  }

  private async ip(args: string[]): Promise<void> {
    const r = await this.opts.run(this.opts.ipProgram, args, { timeoutMs: 5_000 });
    if (r.exitCode !== 0 && !/File exists|No such file|Cannot assign/.test(r.output)) {
      this.opts.logger.warn({ event: 'failover.ip_failed', args, output: describeOutcome(r) }, `ip ${args.join(' ')} failed`);
    }
  }
}
