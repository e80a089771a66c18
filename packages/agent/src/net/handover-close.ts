// The old holder of a planned move ends the kept-alive connections it still serves through the
// handover, when its proxy can do that without a race (services/graceful-close.ts): once per
// handover, once the VIP has left and connections remain. The window then ends when each
// client's next request has had its answer, instead of when clients that never let go are done
// (docs/design/handover.md, "Ending"). Nothing is done while a command runs on the proxy or the
// proxy is not running: a restart ends the connections itself, and a reload would race it.
import { readFile } from 'node:fs/promises';
import type { Logger, ServiceKind, ServiceState } from '@lbha/shared';
import type { ServiceOutcome } from '../services/service-driver.js';
import { gracefulClose } from '../services/graceful-close.js';
import type { HandoverTask } from './handover-task.js';

/** The proxy whose connections are ended. */
export interface ClosingProxy {
  readonly name: string;
  readonly kind: ServiceKind;
  readonly configFile: string;
  state(): ServiceState;
  reload(): Promise<ServiceOutcome>;
}

export interface HandoverCloseOptions {
  /** The handovers running now. */
  readonly running: () => readonly HandoverTask[];
  /** Per instance: the connections its outgoing handover still serves, once the VIP has left. */
  readonly counts: () => ReadonlyMap<string, number>;
  readonly proxy: () => ClosingProxy | undefined;
  /** A command (reload, restart, validate) runs on the proxy now. */
  readonly busy: (service: string) => boolean;
  readonly logger: Logger;
  readonly read?: (file: string) => Promise<string>;
}

function keyOf(t: HandoverTask): string {
  return `${t.instance} ${t.peer}`;
}

/**
 * The outgoing handovers whose connections are still to be ended: connections remain after
 * the VIP left, and nothing was tried for this handover yet. Pure.
 */
export function closeDue(running: readonly HandoverTask[], counts: ReadonlyMap<string, number>, tried: ReadonlySet<string>): HandoverTask[] {
  return running.filter((t) => t.role === 'outgoing' && (counts.get(t.instance) ?? 0) > 0 && !tried.has(keyOf(t)));
}

export class HandoverClose {
  private readonly tried = new Set<string>();
  private acting = false;
  private readonly read: (file: string) => Promise<string>;

  constructor(private readonly o: HandoverCloseOptions) {
    this.read = o.read ?? ((f) => readFile(f, 'utf8'));
  }

  /** Looks at the counts (called when they change) and ends the connections where it is due. */
  async look(): Promise<void> {
    if (this.acting) return;
    const running = this.o.running();
    const live = new Set(running.map(keyOf));
    // A later handover of the same VIP to the same peer is a new one.
    for (const k of this.tried) if (!live.has(k)) this.tried.delete(k);
    const due = closeDue(running, this.o.counts(), this.tried);
    if (due.length === 0) return;
    this.acting = true;
    try {
      for (const t of due) this.tried.add(keyOf(t));
      await this.close(due);
    } finally {
      this.acting = false;
    }
  }

  private async close(due: readonly HandoverTask[]): Promise<void> {
    const vips = due.map((t) => t.vip).join(', ');
    const log = this.o.logger;
    const p = this.o.proxy();
    if (!p) return;
    let config: string;
    try {
      config = await this.read(p.configFile);
    } catch (err) {
      log.warn({ event: 'handover.close_unavailable', service: p.name, err: (err as Error).message }, `cannot read ${p.configFile}: the connections left on ${vips} end with their clients`);
      return;
    }
    const how = gracefulClose(p.kind, config);
    if (how.kind === 'unavailable') {
      log.info({ event: 'handover.close_unavailable', service: p.name, reason: how.reason }, `connections left on ${vips} end with their clients: ${how.reason}`);
      return;
    }
    if (p.state() !== 'running' || this.o.busy(p.name)) {
      log.info({ event: 'handover.close_skipped', service: p.name, state: p.state() }, `${p.name} is ${p.state() === 'running' ? 'busy with a command' : p.state()}: the connections left on ${vips} are not ended by a reload`);
      return;
    }
    const r = await p.reload();
    if (r.ok) log.info({ event: 'handover.closing', service: p.name }, `${p.name} reloaded: it closes the connections left on ${vips} after their next answer`);
    else log.warn({ event: 'handover.close_failed', service: p.name, reason: r.message }, `the connections left on ${vips} end with their clients: ${r.message}`);
  }
}
