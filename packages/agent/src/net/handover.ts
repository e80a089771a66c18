// Connection handover during a planned VIP move (docs/design/handover.md).
//
// VRRP moves a VIP by moving its MAC address: every packet sent after the gratuitous ARP goes
// to the new holder, including packets of connections the old holder still has open, and the
// new holder answers those with a reset. For a planned move the coordinator tells both nodes
// to bridge that gap for a bounded window:
//
// - incoming (the new holder): an nftables netdev ingress table on the VIP's interface records
//   every TCP flow whose SYN it sees, and forwards the other TCP packets for the VIP, unchanged
//   at layer 3, to the old holder.
// - outgoing (the old holder): keeps the VIP as a /32 on lo, so the forwarded packets reach its
//   sockets, with arp_ignore=1 and arp_announce=2 on the interface so that it never answers or
//   announces the VIP there once keepalived has removed it. An IPv6 VIP goes on lo as a
//   deprecated /128 (never a source address; Linux answers neighbour solicitations only for
//   addresses on the interface asked), with a lifetime, so the kernel drops it on its own.
//   The new holder pins its neighbour entry for the old holder for the window: holding the VIP,
//   it could otherwise solicit the old holder from the VIP's address, and the old holder's
//   answer, addressed to the VIP it keeps on lo, would never leave it.
//
// Both sides end the handover at its deadline on their own, and remove whatever a crashed run
// left behind at start. handover-ruleset.ts renders the incoming table, arp-sysctls.ts keeps the
// outgoing side's sysctls; keepOnLo() keeps VIPs on lo for the peer's unplanned failover too.
//
// Over 400 lines: every change to the node's tables, lo addresses, sysctls and neighbour pins
// goes through the one serial chain of this class, so that no two of them interleave.
import { mkdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isIPv6 } from 'node:net';
import type { Logger } from '@lbha/shared';
import type { JsonFile } from '../state/json-file.js';
import { describeOutcome, type CommandRunner } from '../util/run-command.js';
import { ArpSysctls, type SavedSysctls } from './arp-sysctls.js';
import { openConnectionsArgs } from './handover-connections.js';
import { isMoveBack, lingerRules, vipLeft } from './handover-linger.js';
import { FLOW_SET_SIZE, HANDOVER_TABLE_PREFIX, incomingRuleset, parseSsPeers, tableName } from './handover-ruleset.js';
import { handoverTaskProblem, type HandoverTask } from './handover-task.js';
import { peerLinkAddress } from './peer-link-address.js';

export type { HandoverTask } from './handover-task.js';
export type { SavedSysctls } from './arp-sysctls.js';

export interface HandoverOptions {
  readonly nftProgram: string;
  readonly ipProgram: string;
  readonly ssProgram: string;
  /** Runs the one-line UDP probe that makes the kernel resolve a peer (default: this node). */
  readonly nodeProgram?: string;
  readonly run: CommandRunner;
  readonly logger: Logger;
  /** Where rulesets are written for `nft -f`. */
  readonly workDir: string;
  readonly sysctls: JsonFile<SavedSysctls>;
  /** /proc/sys, replaceable in tests. */
  readonly procSysRoot?: string;
  readonly now?: () => number;
  /** Called after a handover ends on its own (deadline). */
  readonly onEnded?: (task: HandoverTask) => void;
  /** Whether this node holds a task's VIP on its interface now (the agent's address watcher). */
  readonly holdsVip: (task: HandoverTask) => boolean;
}

/** The label on lo addresses this module adds, so that leftovers can be told from an operator's. */
const LO_LABEL = 'lo:lbha';
/** Marks the neighbour entries this module pins (ip neigh ... protocol), to find leftovers. */
const NEIGH_PROTO = '76';
/** `ip -j` shows an infinite address lifetime as this. */
const FOREVER = 4_294_967_295;
/** An agent never keeps a handover longer than this, whatever the deadline says. */
const MAX_WINDOW_MS = 3_600_000;
/** An IPv6 lo address of ours expires by itself after this long (a crashed agent's leftover). */
const V6_LIFETIME_S = MAX_WINDOW_MS / 1000;

interface Active {
  readonly task: HandoverTask;
  readonly key: string;
  readonly timer: NodeJS.Timeout;
  /** outgoing: the VIP was on lo before the handover; leave it there after. */
  readonly preexisting: boolean;
}

/** The VIP's prefix on lo: a host route of its family. */
function hostCidr(vip: string): string {
  return `${vip}/${isIPv6(vip) ? 128 : 32}`;
}

export class HandoverController {
  private readonly active = new Map<string, Active>();
  private readonly now: () => number;
  private readonly arp: ArpSysctls;
  private chain: Promise<void> = Promise.resolve();
  private leftovers: { tables: Set<string>; lo: Set<string>; pins: Array<{ peer: string; dev: string }> } | undefined;
  private standby = new Map<string, { interface: string; preexisting: boolean }>();

  constructor(private readonly opts: HandoverOptions) {
    this.now = opts.now ?? Date.now;
    this.arp = new ArpSysctls({ store: opts.sysctls, procSysRoot: opts.procSysRoot ?? '/proc/sys', logger: opts.logger });
  }

  /**
   * Notes what an earlier run left in place: tables, lo addresses, changed sysctls. The first
   * apply() keeps what is still wanted (an agent restart must not break a handover) and
   * removes the rest.
   */
  start(): Promise<void> {
    return this.serial(async () => {
      const tables = new Set<string>();
      const lo = new Set<string>();
      const listed = await this.opts.run(this.opts.nftProgram, ['list', 'tables', 'netdev'], { timeoutMs: 5_000 });
      if (listed.exitCode === 0) {
        for (const m of listed.stdout.matchAll(/^table netdev (\S+)$/gm)) if (m[1]?.startsWith(HANDOVER_TABLE_PREFIX)) tables.add(m[1]);
      }
      for (const a of await this.loAddresses()) if (a.ours) lo.add(a.local);
      this.leftovers = { tables, lo, pins: await this.pins() };
    });
  }

  /** Makes the running handovers those of `tasks`; returns a problem per task that failed. */
  apply(tasks: readonly HandoverTask[]): Promise<Map<string, string>> {
    return this.serial(async () => {
      const problems = new Map<string, string>();
      const wanted = new Map<string, HandoverTask>();
      const now = this.now();
      for (const t of tasks) {
        if (t.untilMs <= now) continue;
        const p = handoverTaskProblem(t);
        if (p) problems.set(t.instance, p);
        else wanted.set(t.instance, t);
      }
      for (const [instance, a] of [...this.active]) {
        const w = wanted.get(instance);
        if (w && isMoveBack(a.task, w) && (await this.linger(instance, a))) continue;
        if (!w || this.keyOf(w) !== a.key) await this.end(instance, w ? 'replaced' : 'withdrawn');
        else if (w.untilMs !== a.task.untilMs) this.reschedule(a, w);
      }
      for (const [instance, t] of wanted) {
        if (this.active.has(instance)) continue;
        const err = await this.begin(t);
        if (err) problems.set(instance, err);
      }
      if (this.leftovers) await this.sweep(this.leftovers);
      this.leftovers = undefined;
      return problems;
    });
  }

  /** Keeps `items` on lo as the outgoing side does, handover or not (unplanned-failover.md); others
   *  leave lo unless a handover needs them. IPv6 addresses get a fresh lifetime each call. */
  keepOnLo(items: ReadonlyArray<{ vip: string; interface: string }>): Promise<Map<string, string>> {
    return this.serial(async () => {
      const problems = new Map<string, string>();
      const next = new Map<string, { interface: string; preexisting: boolean }>();
      for (const item of items) {
        const pseudo: HandoverTask = { instance: '', vrid: 0, interface: item.interface, vip: item.vip, role: 'outgoing', peer: item.vip, untilMs: 0 };
        const known = this.standby.get(item.vip);
        const r = await this.beginOutgoing(pseudo);
        const preexisting = known?.preexisting ?? r.preexisting;
        if (r.error) problems.set(item.vip, r.error);
        else next.set(item.vip, { interface: item.interface, preexisting });
        if (!r.error && isIPv6(item.vip) && !preexisting) await this.ip(['-6', 'addr', 'replace', hostCidr(item.vip), 'dev', 'lo', 'nodad', 'preferred_lft', '0', 'valid_lft', String(V6_LIFETIME_S)]);
      }
      const before = this.standby;
      this.standby = next;
      for (const [vip, s] of before) {
        if (next.has(vip)) continue;
        if (!s.preexisting && ![...this.active.values()].some((a) => a.task.role === 'outgoing' && a.task.vip === vip)) await this.ip(['addr', 'del', hostCidr(vip), 'dev', 'lo']);
        if (!isIPv6(vip) && !this.needsSysctls(s.interface)) await this.arp.restore(s.interface);
      }
      return problems;
    });
  }

  running(): HandoverTask[] {
    return [...this.active.values()].map((a) => a.task);
  }

  /** Forgets the timers without undoing anything: a restarted agent picks the handovers up again. */
  detach(): void {
    for (const a of this.active.values()) clearTimeout(a.timer);
  }

  // ---- internals ----

  private async sweep(left: NonNullable<HandoverController['leftovers']>): Promise<void> {
    const tasks = [...this.active.values()];
    for (const p of left.pins) {
      if (!tasks.some((a) => a.task.role === 'incoming' && a.task.peer === p.peer && a.task.interface === p.dev)) await this.ip(['-6', 'neigh', 'del', p.peer, 'dev', p.dev]);
    }
    for (const name of left.tables) if (!tasks.some((a) => a.task.role === 'incoming' && tableName(a.task) === name)) await this.nft(['delete', 'table', 'netdev', name]);
    for (const vip of left.lo) if (!this.standby.has(vip) && !tasks.some((a) => a.task.role === 'outgoing' && a.task.vip === vip)) await this.ip(['addr', 'del', hostCidr(vip), 'dev', 'lo']);
    for (const ifname of await this.arp.changed()) {
      if (!this.needsSysctls(ifname)) await this.arp.restore(ifname);
    }
  }

  /**
   * lo's addresses, and which are ours: IPv4 by label; IPv6 (no labels there) by being
   * deprecated with a finite lifetime, which nobody gives a loopback address by hand.
   */
  private async loAddresses(): Promise<Array<{ local: string; ours: boolean }>> {
    const r = await this.opts.run(this.opts.ipProgram, ['-j', 'addr', 'show', 'dev', 'lo'], { timeoutMs: 5_000 });
    if (r.exitCode !== 0) return [];
    try {
      type AddrInfo = { local?: string; label?: string; family?: string; preferred_life_time?: number; valid_life_time?: number };
      const links = JSON.parse(r.stdout) as Array<{ addr_info?: AddrInfo[] }>;
      return links
        .flatMap((l) => l.addr_info ?? [])
        .flatMap((a) => {
          if (!a.local) return [];
          const ours = a.family === 'inet6' ? a.preferred_life_time === 0 && (a.valid_life_time ?? FOREVER) < FOREVER : a.label === LO_LABEL;
          return [{ local: a.local, ours }];
        });
    } catch {
      return [];
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn);
    this.chain = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  /** What makes a handover the same one; a new deadline alone (a drain extending it) is not new. */
  private keyOf(t: HandoverTask): string {
    return JSON.stringify([t.role, t.peer, t.vip, t.interface, t.vrid]);
  }

  /** A new deadline for a running handover: only the timer changes, the table and address stay. */
  private reschedule(a: Active, t: HandoverTask): void {
    clearTimeout(a.timer);
    const timer = this.deadline(t);
    this.active.set(t.instance, { ...a, task: t, timer });
    this.opts.logger.info({ event: 'handover.extended', instance: t.instance, role: t.role, vip: t.vip, untilMs: t.untilMs }, `handover of ${t.vip} (${t.role}) now ends at ${new Date(t.untilMs).toISOString()}`);
  }

  private deadline(t: HandoverTask): NodeJS.Timeout {
    const timer = setTimeout(
      () => {
        void this.serial(async () => {
          const a = this.active.get(t.instance);
          if (a?.key !== this.keyOf(t) || a.task.untilMs !== t.untilMs) return;
          await this.end(t.instance, 'deadline');
          this.opts.onEnded?.(t);
        });
      },
      Math.min(MAX_WINDOW_MS, Math.max(0, t.untilMs - this.now())),
    );
    timer.unref();
    return timer;
  }

  private async begin(t: HandoverTask): Promise<string | undefined> {
    const windowMs = Math.min(MAX_WINDOW_MS, t.untilMs - this.now());
    let preexisting = false;
    const err = t.role === 'incoming' ? await this.beginIncoming(t) : await this.beginOutgoing(t).then((r) => ((preexisting = r.preexisting), r.error));
    const log = { event: err ? 'handover.failed' : 'handover.started', instance: t.instance, role: t.role, vip: t.vip, peer: t.peer, windowMs };
    if (err) {
      this.opts.logger.error({ ...log, error: err }, `handover of ${t.vip} (${t.role}) could not start: ${err}`);
      return err;
    }
    this.active.set(t.instance, { task: t, key: this.keyOf(t), timer: this.deadline(t), preexisting });
    this.opts.logger.info(
      log,
      t.role === 'incoming'
        ? `handover of ${t.vip}: forwarding packets of connections not opened here to ${t.peer} for ${Math.round(windowMs / 1000)}s`
        : `handover of ${t.vip}: keeping it on lo for connections forwarded by ${t.peer} for ${Math.round(windowMs / 1000)}s`,
    );
    return undefined;
  }

  /** Our pinned neighbour entries (IPv6 incoming handovers). */
  private async pins(): Promise<Array<{ peer: string; dev: string }>> {
    const r = await this.opts.run(this.opts.ipProgram, ['-j', '-6', 'neigh', 'show'], { timeoutMs: 5_000 });
    if (r.exitCode !== 0) return [];
    try {
      const list = JSON.parse(r.stdout) as Array<{ dst?: string; dev?: string; protocol?: string }>;
      return list.flatMap((n) => (n.protocol === NEIGH_PROTO && n.dst && n.dev ? [{ peer: n.dst, dev: n.dev }] : []));
    } catch {
      return [];
    }
  }

  private async beginIncoming(t: HandoverTask): Promise<string | undefined> {
    if (isIPv6(t.vip)) {
      // Resolved now if need be, before this node holds the VIP.
      const lladdr = await peerLinkAddress(this.opts, t.peer, t.interface, 20);
      if (!lladdr) return `cannot resolve the link-layer address of ${t.peer} on ${t.interface}`;
      const e = await this.ip(['-6', 'neigh', 'replace', t.peer, 'lladdr', lladdr, 'dev', t.interface, 'nud', 'permanent', 'protocol', NEIGH_PROTO]);
      if (e) return `cannot pin the neighbour entry of ${t.peer}: ${e}`;
    }
    // Connections this node already has on the VIP stay here; a table left by a previous run keeps its flows.
    const adopt = this.leftovers?.tables.has(tableName(t)) ?? false;
    const r = await this.nftFile(t, incomingRuleset(t, await this.localFlows(t.vip), adopt));
    if (r) return `nft refused the handover table: ${r}`;
    // Flows opened between the listing and the load: their SYN came before the table did.
    const late = await this.localFlows(t.vip);
    if (late.length > 0) {
      const lines: string[] = [];
      for (let i = 0; i < late.length; i += 1000) lines.push(`add element netdev ${tableName(t)} flows { ${late.slice(i, i + 1000).join(', ')} }`);
      const e = await this.nftFile(t, `${lines.join('\n')}\n`);
      if (e) this.opts.logger.warn({ event: 'handover.flows_failed', instance: t.instance, error: e }, `could not record ${late.length} local connections of ${t.vip}`);
    }
    return undefined;
  }

  /**
   * Keeps an incoming handover's table after the VIP is moved back (handover-linger.ts) until the
   * VIP has left this node; false when it cannot (the caller ends it as usual).
   */
  private async linger(instance: string, a: Active): Promise<boolean> {
    const t = a.task;
    const o = { ipProgram: this.opts.ipProgram, run: this.opts.run, now: this.now, load: (x: HandoverTask, text: string) => this.nftFile(x, text), holdsVip: this.opts.holdsVip, ...(this.opts.nodeProgram ? { nodeProgram: this.opts.nodeProgram } : {}) };
    const problem = await lingerRules(o, t);
    if (problem) {
      this.opts.logger.warn({ event: 'handover.linger_failed', instance, vip: t.vip, reason: problem }, `handover of ${t.vip}: cannot keep forwarding until the VIP leaves: ${problem}`);
      return false;
    }
    this.active.delete(instance);
    clearTimeout(a.timer);
    this.opts.logger.info({ event: 'handover.lingering', instance, vip: t.vip, peer: t.peer }, `handover of ${t.vip}: moved back; forwarding ${t.peer}'s connections until the VIP leaves this node`);
    void vipLeft(o, t).then(() =>
      this.serial(async () => {
        // A new incoming handover of the VIP owns the table (and the pin) now.
        if ([...this.active.values()].some((x) => x.task.role === 'incoming' && tableName(x.task) === tableName(t))) return;
        await this.nft(['delete', 'table', 'netdev', tableName(t)]);
        if (isIPv6(t.vip)) await this.ip(['-6', 'neigh', 'del', t.peer, 'dev', t.interface]);
        this.opts.logger.info({ event: 'handover.ended', instance, role: t.role, vip: t.vip, reason: 'moved back; the VIP has left this node' }, `handover of ${t.vip} (${t.role}) ended: the VIP has left this node`);
      }),
    );
    return true;
  }

  /** Loads `text` with `nft -f` (a file: the element lists of a busy node exceed argv limits). */
  private async nftFile(t: HandoverTask, text: string): Promise<string | undefined> {
    const file = join(this.opts.workDir, `${tableName(t)}.nft`);
    await mkdir(this.opts.workDir, { recursive: true, mode: 0o700 });
    await writeFile(file, text, { mode: 0o600 });
    const r = await this.opts.run(this.opts.nftProgram, ['-f', file], { timeoutMs: 10_000 });
    await unlink(file).catch(() => undefined);
    return r.exitCode === 0 ? undefined : describeOutcome(r);
  }

  /**
   * The remote ends of the connections open here on the VIP. Not those in time-wait: they are
   * over, and a busy VIP leaves thousands of them, whose client ports the client hands out again.
   * Recorded, they kept here the packets of a connection the old holder serves on a reused port
   * (the time-wait socket answered them with a bare ACK, or once gone with a reset).
   */
  private async localFlows(vip: string): Promise<string[]> {
    const v6 = isIPv6(vip);
    const r = await this.opts.run(this.opts.ssProgram, openConnectionsArgs(vip), { timeoutMs: 5_000 });
    // Half the set at most: new connections need room too.
    return r.exitCode === 0 ? parseSsPeers(r.stdout, v6 ? 6 : 4).slice(0, FLOW_SET_SIZE / 2) : [];
  }

  private async beginOutgoing(t: HandoverTask): Promise<{ error?: string; preexisting: boolean }> {
    if (isIPv6(t.vip)) return this.loAddress(t);
    const error = await this.arp.raise(t.interface);
    return error ? { error, preexisting: false } : this.loAddress(t);
  }

  /** Puts the VIP on lo unless it is there; says whether it was there before us. */
  private async loAddress(t: HandoverTask): Promise<{ error?: string; preexisting: boolean }> {
    const on = (await this.loAddresses()).find((a) => a.local === t.vip);
    // An operator's own address (LVS-DR style) stays; ours, from a run before a restart, is reused.
    const preexisting = on !== undefined && !on.ours;
    if (on === undefined) {
      const cidr = hostCidr(t.vip);
      const args = isIPv6(t.vip)
        ? ['addr', 'add', cidr, 'dev', 'lo', 'nodad', 'preferred_lft', '0', 'valid_lft', String(V6_LIFETIME_S)]
        : ['addr', 'add', cidr, 'dev', 'lo', 'label', LO_LABEL];
      const r = await this.ip(args);
      if (r) return { error: `cannot add ${cidr} to lo: ${r}`, preexisting };
    }
    return { preexisting };
  }

  private async end(instance: string, reason: string): Promise<void> {
    const a = this.active.get(instance);
    if (!a) return;
    this.active.delete(instance);
    clearTimeout(a.timer);
    const t = a.task;
    if (t.role === 'incoming') {
      await this.nft(['delete', 'table', 'netdev', tableName(t)]);
      if (isIPv6(t.vip)) await this.ip(['-6', 'neigh', 'del', t.peer, 'dev', t.interface]);
    } else {
      if (!a.preexisting && !this.standby.has(t.vip)) await this.ip(['addr', 'del', hostCidr(t.vip), 'dev', 'lo']);
      if (!isIPv6(t.vip) && !this.needsSysctls(t.interface)) {
        await this.arp.restore(t.interface);
      }
    }
    this.opts.logger.info({ event: 'handover.ended', instance, role: t.role, vip: t.vip, reason }, `handover of ${t.vip} (${t.role}) ended: ${reason}`);
  }

  /** An IPv4 VIP of an outgoing handover or of the standby set still lives on lo for this interface. */
  private needsSysctls(ifname: string): boolean {
    if ([...this.standby].some(([vip, s]) => s.interface === ifname && !isIPv6(vip))) return true;
    return [...this.active.values()].some((x) => x.task.role === 'outgoing' && x.task.interface === ifname && !isIPv6(x.task.vip));
  }

  /** Runs nft; failures are logged, not thrown (removal of what is already gone is fine). */
  private async nft(args: string[]): Promise<void> {
    const r = await this.opts.run(this.opts.nftProgram, args, { timeoutMs: 5_000 });
    if (r.exitCode !== 0 && !/No such file|does not exist/i.test(r.output)) {
      this.opts.logger.warn({ event: 'handover.nft_failed', args, output: describeOutcome(r) }, `nft ${args.join(' ')} failed`);
    }
  }

  private async ip(args: string[]): Promise<string | undefined> {
    const r = await this.opts.run(this.opts.ipProgram, args, { timeoutMs: 5_000 });
    if (r.exitCode === 0 || /File exists|Cannot assign requested address/.test(r.output)) return undefined;
    return describeOutcome(r);
  }
}
