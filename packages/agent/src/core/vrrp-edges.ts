// Where plain VRRP goes wrong and the agent watches for it (docs/design/vrrp-edges.md): the
// announcements the coordinator asks for after a split brain and the repeats while a foreign
// router is blocked (announcements.ts, net/announcer.ts), the adverts a node that gave a VIP up
// after a split brain repeats for the holder (yield-adverts.ts), the routers that are not nodes and
// the adverts this node sends (net/vrrp-watch.ts), the transitions nobody asked for
// (transition-log.ts), and a keepalived that runs but does not work (keepalived-watch.ts). The core reads what they observe into its
// evaluation and hands them what the evaluation decided.
import { join } from 'node:path';
import type { DesiredInstance, DesiredState, Logger, VrrpState } from '@lbha/shared';
import { processTree } from '../services/listen-queue.js';
import { procState } from '../services/proc.js';
import type { RawPacket } from '../keepalived/advert-sender.js';
import { leavingAdverts } from '../keepalived/leaving-adverts.js';
import type { AddressMap } from '../net/address-watcher.js';
import { Announcer } from '../net/announcer.js';
import { VrrpWatch } from '../net/vrrp-watch.js';
import type { CommandRunner } from '../util/run-command.js';
import { WakeTimer } from '../util/wake-timer.js';
import { Announcements } from './announcements.js';
import type { Evaluation, NodeView } from './evaluate.js';
import { KeepalivedWatch, mastersOf, type KeepalivedLook } from './keepalived-watch.js';
import { TransitionLog, type TransitionContext } from './transition-log.js';
import { YIELD_PRIORITY, YIELD_REPEATS, YieldAdverts } from './yield-adverts.js';

export interface VrrpEdgesOptions {
  readonly perlProgram: string;
  readonly nftProgram: string;
  readonly sysfsNetRoot: string;
  readonly run: CommandRunner;
  readonly logger: Logger;
  readonly runtimeDir: string;
  readonly now: () => number;
  /** Sends VRRP adverts for keepalived (the raw-socket sender the unplanned failover also uses). */
  readonly adverts: { send(packets: readonly RawPacket[]): void };
  /** The node's interface addresses (the adverts' sources). */
  readonly addresses: () => AddressMap;
  /** Something they observe changed: evaluate again. */
  readonly onChange: () => void;
  /** keepalived as the core knows it, for the watch on a keepalived that runs but does not work. */
  readonly keepalived: {
    readonly pid: () => number;
    readonly states: () => ReadonlyMap<string, { readonly state: VrrpState; readonly sinceMs: number }>;
    readonly desired: () => DesiredState | undefined;
    readonly onFrozen: (reason: string) => void;
  };
}

/** How often keepalived's processes are looked at (two small /proc reads). */
const KEEPALIVED_LOOK_MS = 100;

export class VrrpEdges {
  private readonly announcer: Announcer;
  private readonly announcements: Announcements;
  private readonly watch: VrrpWatch;
  private readonly transitions: TransitionLog;
  private readonly keepalived: KeepalivedWatch;
  private readonly yields = new YieldAdverts();
  private readonly yieldWake: WakeTimer;

  constructor(private readonly opts: VrrpEdgesOptions) {
    this.yieldWake = new WakeTimer(() => this.sendYieldAdverts(), opts.now);
    this.transitions = new TransitionLog(opts.now());
    this.keepalived = new KeepalivedWatch({ intervalMs: KEEPALIVED_LOOK_MS, now: opts.now, look: () => this.lookAtKeepalived(), onFrozen: opts.keepalived.onFrozen });
    this.keepalived.start();
    this.announcer = new Announcer({ perlProgram: opts.perlProgram, sysfsNetRoot: opts.sysfsNetRoot, logger: opts.logger });
    this.announcements = new Announcements({ announcer: this.announcer, logger: opts.logger, now: opts.now, onDone: opts.onChange });
    this.watch = new VrrpWatch({ nftProgram: opts.nftProgram, run: opts.run, logger: opts.logger, workDir: join(opts.runtimeDir, 'vrrp-watch'), now: opts.now, onChange: opts.onChange });
  }

  /** Their part of the node's view. */
  view(): Pick<NodeView, 'announced' | 'announcedAtMs' | 'foreign' | 'unplanned'> {
    return {
      announced: this.announcements.all,
      announcedAtMs: this.announcements.lastAt,
      foreign: (iface, vrid) => this.watch.foreign(iface, vrid),
      unplanned: (instance) => this.transitions.of(instance),
    };
  }

  /** keepalived reported a transition: recorded, and logged with its cause, unless it was asked for. */
  transition(inst: DesiredInstance, from: VrrpState, to: VrrpState, c: Omit<TransitionContext, 'previous' | 'foreign'>): void {
    const instance = inst.name;
    const t = this.transitions.record(instance, from, to, { ...c, foreign: this.watch.foreign(inst.interface, inst.vrid) });
    this.followYield(inst, from, to, t?.kind, c);
    if (!t) return;
    const level = t.kind === 'recovered' ? 'info' : 'warn';
    this.opts.logger[level]({ event: 'vrrp.unplanned_transition', instance, from, to, kind: t.kind, cause: t.cause, ...(t.masterMs !== undefined ? { masterMs: t.masterMs } : {}) }, `${instance}: ${from.toUpperCase()} -> ${to.toUpperCase()} (${t.kind}): ${t.cause}`);
  }

  /**
   * A VIP this node had claimed went to a higher priority (a step-down after a split brain, or a
   * yield nobody asked for): tell the holder again for a few advert intervals, in case it did not
   * hear keepalived's one advert. The node holding the VIP again ends it.
   */
  private followYield(inst: DesiredInstance, from: VrrpState, to: VrrpState, kind: string | undefined, c: { readonly nowMs: number; readonly advertIntMs: number }): void {
    if (to !== 'backup') {
      this.yields.stop(inst.name);
      return;
    }
    if (from !== 'master' || !(inst.stepDown || kind === 'preempted' || kind === 'flap')) return;
    const everyMs = this.yields.yielded(inst.name, c.nowMs, c.advertIntMs);
    this.opts.logger.info(
      { event: 'vrrp.yield_adverts', instance: inst.name, everyMs, repeats: YIELD_REPEATS },
      `${inst.name}: gave the VIP up to a higher priority; repeating a priority-${YIELD_PRIORITY} advert every ${everyMs} ms, ${YIELD_REPEATS} times, so that the holder announces it`,
    );
    this.sendYieldAdverts();
  }

  private sendYieldAdverts(): void {
    const due = this.yields.due(this.opts.now());
    const d = this.opts.keepalived.desired();
    if (d && due.instances.length > 0) this.opts.adverts.send(leavingAdverts(d, new Set(due.instances), this.opts.addresses(), YIELD_PRIORITY));
    this.yieldWake.at(due.wakeAtMs);
  }

  /** Carries out what the evaluation decided: the announcements due. */
  act(e: Evaluation): void {
    this.announcements.send(e.announce);
  }

  /** Follows a new desired state (the watch tables). */
  follow(next: DesiredState | undefined): Promise<void> {
    return this.watch.follow(next);
  }

  /** An instance left the desired state. */
  forget(instance: string): void {
    this.yields.stop(instance);
    this.announcements.forget(instance);
    this.transitions.forget(instance);
  }

  /**
   * keepalived heard a lower-priority advert while MASTER of `instance`: another node had claimed
   * the VIP and gave way (a split brain healing), and keepalived announced the VIP again.
   */
  lowerPriorityAdvert(instance: string, priority: number): void {
    this.opts.logger.info({ event: 'vrrp.lower_priority_advert', instance, priority }, `${instance}: heard a lower-priority advert while MASTER; keepalived announced the VIP again`);
  }

  close(): void {
    this.yieldWake.stop();
    this.keepalived.stop();
    this.announcer.close();
    this.watch.close();
  }

  private lookAtKeepalived(): KeepalivedLook | undefined {
    const k = this.opts.keepalived;
    const pid = k.pid();
    if (pid <= 0) return undefined;
    const d = k.desired();
    // The state letter alone (T: stopped by a signal, t: by a tracer), ten times a second.
    const stoppedPids = processTree(pid).filter((p) => {
      const s = procState(p);
      return s === 0x54 || s === 0x74;
    });
    const masters = mastersOf(k.states()).flatMap((m) => {
      const i = d?.instances.find((x) => x.name === m.instance);
      return i ? [{ ...m, sent: this.watch.sent(i.interface, i.vrid) }] : [];
    });
    return { nowMs: this.opts.now(), pid, stoppedPids, masters, advertIntMs: d?.keepalived.advertIntMs ?? 1_000 };
  }
}
