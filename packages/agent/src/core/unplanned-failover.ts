// The node's part in unplanned failover (docs/design/unplanned-failover.md): every VIP with a
// failover peer stays on lo (the peer may hand this node new connections before it holds the
// VIP), the failover tables follow the VIPs and peers, new connections go to the peer while the
// node cannot serve, and a keepalived that died gets its priority-0 adverts sent for it.
import { parseCidr, type DesiredState, type Logger, type NodeMode } from '@lbha/shared';
import type { AdvertSender } from '../keepalived/advert-sender.js';
import { leavingAdverts } from '../keepalived/leaving-adverts.js';
import { holdsAddress, type AddressMap } from '../net/address-watcher.js';
import { FailoverForwarder } from '../net/failover-forwarder.js';
import type { FailoverTarget } from '../net/failover-ruleset.js';
import type { HandoverController } from '../net/handover.js';
import type { CommandRunner } from '../util/run-command.js';
import type { HealthGate } from './track-writer.js';

export interface UnplannedFailoverOptions {
  readonly nftProgram: string;
  readonly ipProgram: string;
  /** Sends VRRP adverts for keepalived (shared with the split-brain repeats; its owner closes it). */
  readonly adverts: Pick<AdvertSender, 'prepare' | 'send'>;
  readonly run: CommandRunner;
  readonly logger: Logger;
  readonly workDir: string;
  /** Owns the VIPs on lo and their ARP sysctls (shared with the planned handover). */
  readonly handover: Pick<HandoverController, 'keepOnLo'>;
}

/** Renews the lifetime of IPv6 VIPs kept on lo (an hour) well before it runs out. */
const STANDBY_RENEW_MS = 15 * 60_000;

/** The failover targets of a desired state: the VIPs that have a peer to go to. */
export function failoverTargets(d: DesiredState): FailoverTarget[] {
  const out: FailoverTarget[] = [];
  for (const i of d.instances) {
    const cidr = parseCidr(i.vip);
    if (typeof cidr === 'string' || !i.failoverPeer) continue;
    out.push({ vip: cidr.address, interface: i.interface, peer: i.failoverPeer });
  }
  return out;
}

export interface ServeInput {
  readonly gate: HealthGate;
  readonly faults: number;
  readonly mode: NodeMode;
  readonly keepalivedRunning: boolean;
}

/**
 * Whether the node can serve its VIPs' new connections: no fault, active, keepalived running, and
 * the health gate not saying FAULT. Undefined while a restarted agent waits for its checks (an
 * adopted keepalived keeps its health value meanwhile): what the previous run decided stays, or
 * a check that has not spoken yet would send the held VIPs' new connections to the peer.
 */
export function canServeNow(i: ServeInput): boolean | undefined {
  if (i.gate === 'starting' || i.gate === 'hold') return undefined;
  return i.gate === 'open' && i.faults === 0 && i.mode === 'active' && i.keepalivedRunning;
}

export class UnplannedFailover {
  private readonly forwarder: FailoverForwarder;
  private readonly adverts: Pick<AdvertSender, 'prepare' | 'send'>;
  private targets: readonly FailoverTarget[] = [];
  private renewTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: UnplannedFailoverOptions) {
    this.forwarder = new FailoverForwarder({ nftProgram: opts.nftProgram, ipProgram: opts.ipProgram, run: opts.run, logger: opts.logger, workDir: opts.workDir });
    this.adverts = opts.adverts;
  }

  /** Follows a new desired state: VIPs on lo, tables, the advert sender ready. */
  async adopt(d: DesiredState): Promise<void> {
    const log = this.opts.logger;
    const targets = failoverTargets(d);
    const standby = await this.opts.handover.keepOnLo(this.standbyItems(targets));
    for (const [vip, problem] of standby) log.error({ event: 'failover.standby_failed', vip, error: problem }, `cannot keep ${vip} on lo for the peer: ${problem}`);
    const problems = await this.forwarder.arm(targets);
    for (const [vip, problem] of problems) log.error({ event: 'failover.arm_failed', vip, error: problem }, `no failover forwarding for ${vip}: ${problem}`);
    this.targets = targets;
    if (targets.length > 0) this.adverts.prepare();
    // IPv6 addresses on lo carry a lifetime (a crashed agent's leftovers expire): renew it.
    if (!this.renewTimer) {
      this.renewTimer = setInterval(() => void this.opts.handover.keepOnLo(this.standbyItems(this.targets)), STANDBY_RENEW_MS);
      this.renewTimer.unref();
    }
  }

  /** New connections for every VIP go to the peer while the node cannot serve them. */
  canServe(yes: boolean): void {
    this.forwarder.give(yes ? [] : this.targets.map((t) => t.vip));
  }

  /**
   * keepalived died: new connections go to the peer now, and the priority-0 adverts it could not
   * send go out for the instances it was master of, so the peer takes over after its skew time
   * instead of three advert intervals.
   */
  keepalivedDied(d: DesiredState | undefined, masterOf: (instance: string) => boolean, addrs: AddressMap): void {
    this.canServe(false);
    if (!d) return;
    const leaving = new Set(
      d.instances
        .filter((i) => {
          const cidr = parseCidr(i.vip);
          return masterOf(i.name) || (typeof cidr !== 'string' && holdsAddress(addrs, i.interface, cidr.address));
        })
        .map((i) => i.name),
    );
    const packets = leavingAdverts(d, leaving, addrs);
    this.adverts.send(packets);
    if (packets.length > 0) this.opts.logger.warn({ event: 'vrrp.leaving_sent', instances: [...leaving] }, `keepalived died: sent priority-0 adverts for ${[...leaving].join(', ')}`);
  }

  /**
   * A killed keepalived leaves its VIPs on the interfaces, undefended, while the peer takes them
   * over: remove them now rather than when the restarted keepalived gets to it.
   */
  async releaseVips(d: DesiredState | undefined, addrs: AddressMap): Promise<void> {
    for (const inst of d?.instances ?? []) {
      const cidr = parseCidr(inst.vip);
      if (typeof cidr === 'string' || !holdsAddress(addrs, inst.interface, cidr.address)) continue;
      const r = await this.opts.run(this.opts.ipProgram, ['addr', 'del', inst.vip, 'dev', inst.interface], { timeoutMs: 5_000 });
      this.opts.logger.warn(
        { event: 'vip.released', instance: inst.name, vip: inst.vip, ok: r.exitCode === 0 },
        `keepalived died: removed ${inst.vip} from ${inst.interface}${r.exitCode === 0 ? '' : ` (failed: ${r.output})`}`,
      );
    }
  }

  /** Stops the helpers; the tables stay (the kernel keeps handing a dead proxy's new connections over). */
  close(): void {
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.forwarder.close();
  }

  private standbyItems(targets: readonly FailoverTarget[]): Array<{ vip: string; interface: string }> {
    return targets.map((t) => ({ vip: t.vip, interface: t.interface }));
  }
}
