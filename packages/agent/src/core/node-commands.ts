// The actions a coordinator may ask of a node (the command journal runs each once per id):
// drain and undrain, which move this node's VIPs away and back through the local drain mode,
// reload and restart of a service, and the service's config test alone (validate). Drains are kept across agent restarts.
import type { NodeMode, ServiceStats } from '@lbha/shared';
import type { ActionOutcome, CommandExecutor } from '../commands/command-journal.js';
import type { ServiceOutcome, ValidationResult } from '../services/service-driver.js';
import type { JsonFile } from '../state/json-file.js';
import type { LocalDrain } from './evaluate.js';

/** What the commands need of the node's services (NodeServices in the agent). */
export interface CommandServices {
  identity(): { readonly services: readonly string[] };
  /** The proxy whose connections a drain counts. */
  mainProxy(proxyService: string | undefined): { stats(): Promise<ServiceStats | undefined> } | undefined;
  service(name: string): CommandService | undefined;
}

/** A service a command reloads, restarts or validates. */
export interface CommandService {
  reload(): Promise<ServiceOutcome>;
  restart(): Promise<ServiceOutcome>;
  validate(): Promise<ValidationResult>;
}

export interface NodeCommandsOptions {
  readonly services: CommandServices;
  readonly store: JsonFile<{ mode: LocalDrain; sinceMs: number }>;
  /** The desired state's proxy service and mode, if there is one. */
  readonly desired: () => { readonly proxyService: string; readonly mode: NodeMode } | undefined;
  /** The instances whose VIP this node still holds. */
  readonly heldInstances: () => string[];
  /**
   * The connections this node still serves on VIPs that have left it (outgoing handovers). The
   * proxy's own count can miss them: a reloaded haproxy's statistics are its new process's.
   */
  readonly handoverConnections: () => number;
  /** The local drain changed: resolves once the track files follow. */
  readonly onDrainChange: () => Promise<void>;
  readonly now: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** How often a drain looks at the VIPs and the proxy's connections. */
const DRAIN_POLL_MS = 250;
/** A drain without VIPs and without connection counts waits this long for stragglers. */
const UNCOUNTED_DRAIN_MS = 1_000;
/** Progress is reported when the count changes, and at least this often. */
const PROGRESS_EVERY_MS = 1_000;

export class NodeCommands implements CommandExecutor {
  private current: LocalDrain | undefined;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly opts: NodeCommandsOptions) {
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** The drain by command in force, if any. */
  get localDrain(): LocalDrain | undefined {
    return this.current;
  }

  async load(): Promise<void> {
    this.current = (await this.opts.store.load())?.mode;
  }

  serviceNames(): readonly string[] {
    return this.opts.services.identity().services;
  }

  async drain(untilMs: number, progress: (activeConnections: number, message: string) => void): Promise<ActionOutcome> {
    const { now } = this.opts;
    const started = now();
    await this.setLocalDrain('draining');
    const proxy = this.opts.services.mainProxy(this.opts.desired()?.proxyService);
    let lastReported = -1;
    let lastReportMs = 0;
    for (;;) {
      if (this.current !== 'draining') {
        return { state: 'failed', message: 'drain interrupted by undrain', activeConnections: 0 };
      }
      const held = this.opts.heldInstances();
      const stats = proxy ? await proxy.stats() : undefined;
      const handedOver = this.opts.handoverConnections();
      const active = Math.max(stats?.activeConnections ?? 0, handedOver);
      const elapsed = ((now() - started) / 1000).toFixed(1);
      const done = held.length === 0 && handedOver === 0 && (stats === undefined ? now() - started >= UNCOUNTED_DRAIN_MS : active === 0);
      if (done || now() >= untilMs) {
        await this.setLocalDrain('drained');
        const conns = stats === undefined ? 'active connections unknown (no statusUrl/statsSocket configured)' : `${active} active connections`;
        const vips = held.length === 0 ? 'no VIP held' : `still holding ${held.join(', ')}`;
        const message = done ? `drained: ${conns} after ${elapsed}s, ${vips}` : `drain deadline reached after ${elapsed}s: ${conns}, ${vips}`;
        return { state: 'succeeded', message, activeConnections: active };
      }
      if (active !== lastReported || now() - lastReportMs >= PROGRESS_EVERY_MS) {
        lastReported = active;
        lastReportMs = now();
        progress(active, `draining: ${stats === undefined ? 'active connections unknown' : `${active} active connections`}, ${held.length === 0 ? 'no VIP held' : `holding ${held.join(', ')}`}`);
      }
      await this.sleep(DRAIN_POLL_MS);
    }
  }

  async undrain(): Promise<ActionOutcome> {
    const was = this.current;
    await this.setLocalDrain(undefined);
    const mode = this.opts.desired()?.mode ?? 'active';
    const note = mode === 'active' ? 'placement restored' : `placement stays lowest: the coordinator's mode for this node is ${mode}`;
    return { state: 'succeeded', message: was ? `undrained (was ${was}): ${note}` : `not drained: ${note}`, activeConnections: 0 };
  }

  reload(service: string): Promise<ActionOutcome> {
    return this.onService(service, (s) => s.reload());
  }

  restart(service: string): Promise<ActionOutcome> {
    return this.onService(service, (s) => s.restart());
  }

  /** The service's config test only: nothing changes, whatever it says. */
  validate(service: string): Promise<ActionOutcome> {
    return this.onService(service, async (s) => {
      const v = await s.validate();
      return v.ok ? { ok: true, message: `${service}: the configuration is valid` } : { ok: false, message: `${service}: the configuration does not validate: ${v.output}` };
    });
  }

  private async onService(service: string, action: (s: CommandService) => Promise<ServiceOutcome>): Promise<ActionOutcome> {
    const s = this.opts.services.service(service);
    if (!s) return { state: 'failed', message: `unknown service ${service}`, activeConnections: 0 };
    const r = await action(s);
    return { state: r.ok ? 'succeeded' : 'failed', message: r.message, activeConnections: 0 };
  }

  private async setLocalDrain(mode: LocalDrain | undefined): Promise<void> {
    this.current = mode;
    if (mode) await this.opts.store.save({ mode, sinceMs: this.opts.now() });
    else await this.opts.store.remove();
    await this.opts.onDrainChange();
  }
}
