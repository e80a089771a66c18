// Where plain VRRP goes wrong and the agent watches for it (docs/design/vrrp-edges.md): the
// announcements the coordinator asks for after a split brain and the repeats while a foreign
// router is blocked (announcements.ts, net/announcer.ts), the routers that are not nodes and
// the adverts this node sends (net/vrrp-watch.ts), the transitions nobody asked for
// (transition-log.ts), and a keepalived that runs but does not work (keepalived-watch.ts). The core reads what they observe into its
// evaluation and hands them what the evaluation decided.
import { join } from 'node:path';
import type { DesiredInstance, DesiredState, Logger, VrrpState } from '@lbha/shared';
import { processTree } from '../services/listen-queue.js';
import { readProcStat } from '../services/proc.js';
import { Announcer } from '../net/announcer.js';
import { VrrpWatch } from '../net/vrrp-watch.js';
import type { CommandRunner } from '../util/run-command.js';
import { Announcements } from './announcements.js';
import type { Evaluation, NodeView } from './evaluate.js';
import { KeepalivedWatch, mastersOf, type KeepalivedLook } from './keepalived-watch.js';
import { TransitionLog, type TransitionContext } from './transition-log.js';

export interface VrrpEdgesOptions {
  readonly perlProgram: string;
  readonly nftProgram: string;
  readonly sysfsNetRoot: string;
  readonly run: CommandRunner;
  readonly logger: Logger;
  readonly runtimeDir: string;
  readonly now: () => number;
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

  constructor(private readonly opts: VrrpEdgesOptions) {
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
    if (!t) return;
    const level = t.kind === 'recovered' ? 'info' : 'warn';
    this.opts.logger[level]({ event: 'vrrp.unplanned_transition', instance, from, to, kind: t.kind, cause: t.cause, ...(t.masterMs !== undefined ? { masterMs: t.masterMs } : {}) }, `${instance}: ${from.toUpperCase()} -> ${to.toUpperCase()} (${t.kind}): ${t.cause}`);
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
    this.keepalived.stop();
    this.announcer.close();
    this.watch.close();
  }

  private lookAtKeepalived(): KeepalivedLook | undefined {
    const k = this.opts.keepalived;
    const pid = k.pid();
    if (pid <= 0) return undefined;
    const d = k.desired();
    const stoppedPids = processTree(pid).filter((p) => ['T', 't'].includes(readProcStat(p)?.state ?? ''));
    const masters = mastersOf(k.states()).flatMap((m) => {
      const i = d?.instances.find((x) => x.name === m.instance);
      return i ? [{ ...m, sent: this.watch.sent(i.interface, i.vrid) }] : [];
    });
    return { nowMs: this.opts.now(), pid, stoppedPids, masters, advertIntMs: d?.keepalived.advertIntMs ?? 1_000 };
  }
}
