// The announcements the coordinator asks for (DesiredInstance.announce), carried out once each:
// the evaluation says which are due (the node holds the VIP), this sends them through the
// announcer and remembers what was done, which the node reports (InstanceStatus.announced).
import type { Logger } from '@lbha/shared';
import type { AnnounceOutcome } from '../net/announcer.js';
import type { AnnounceTask } from './evaluate.js';

/** The announcer as the core uses it. */
export interface AnnouncerPort {
  announce(ifname: string, address: string): Promise<AnnounceOutcome>;
}

export interface AnnouncementsOptions {
  readonly announcer: AnnouncerPort;
  readonly logger: Logger;
  /** An announcement the coordinator asked for was sent: the node's report changed. */
  readonly onDone: () => void;
  readonly now: () => number;
}

export class Announcements {
  private readonly done = new Map<string, number>();
  private readonly sentAt = new Map<string, number>();
  /** Requests that failed: not tried again until the coordinator asks anew. */
  private readonly failed = new Map<string, number>();
  private readonly inFlight = new Set<string>();

  constructor(private readonly opts: AnnouncementsOptions) {}

  /** Per instance: the last request carried out. */
  get all(): ReadonlyMap<string, number> {
    return this.done;
  }

  /** Per instance: when the node last announced the VIP (or tried to). */
  get lastAt(): ReadonlyMap<string, number> {
    return this.sentAt;
  }

  /** Sends what is due and not already on its way. */
  send(tasks: readonly AnnounceTask[]): void {
    for (const t of tasks) {
      if (this.inFlight.has(t.instance) || (t.value > 0 && this.failed.get(t.instance) === t.value)) continue;
      this.inFlight.add(t.instance);
      this.sentAt.set(t.instance, this.opts.now());
      void this.opts.announcer.announce(t.interface, t.address).then((r) => {
        this.inFlight.delete(t.instance);
        const log = this.opts.logger;
        if (r.ok) {
          if (t.value === 0) return;
          this.done.set(t.instance, Math.max(t.value, this.done.get(t.instance) ?? 0));
          log.info({ event: 'vip.announced', instance: t.instance, vip: t.address, interface: t.interface, request: t.value }, `announced ${t.address} on ${t.interface}`);
          this.opts.onDone();
        } else {
          if (t.value > 0) this.failed.set(t.instance, t.value);
          log.error({ event: 'vip.announce_failed', instance: t.instance, vip: t.address, error: r.error }, `cannot announce ${t.address}: ${r.error}`);
        }
      });
    }
  }

  forget(instance: string): void {
    this.done.delete(instance);
    this.failed.delete(instance);
    this.sentAt.delete(instance);
  }
}
