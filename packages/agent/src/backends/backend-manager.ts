// Keeps the proxy's backends as the coordinator wants them and reports what the proxy runs.
// Every report interval, and at once after a new desired state or a start, reload or restart of
// the proxy, it reads the proxy's servers and configuration, applies the wanted server states
// again when the proxy does not run them (a restarted haproxy forgets them), and publishes the
// report when it changed. While a drained or disabled server still has sessions here it looks
// every 250 ms, so that an operation waiting for them sees them end promptly.
import { serverKey, type BackendReport, type ConfigFileDigest, type DesiredBackends, type DesiredState, type Logger } from '@lbha/shared';
import { sha256 } from './config-digest.js';
import { intentsMet, type BackendSettings, type ProxyBackends } from './proxy-backends.js';
import { StatCache } from './stat-cache.js';

export const DEFAULT_REPORT_INTERVAL_MS = 5_000;
/** How often a drained server's sessions are looked at while some remain. */
const DRAINING_INTERVAL_MS = 250;
/** After a failed apply, how long before the same settings are tried again (a new desired state or a proxy restart tries at once). */
const RETRY_MS = 10_000;

const NO_BACKENDS: DesiredBackends = { pools: [], intents: [], reportIntervalMs: DEFAULT_REPORT_INTERVAL_MS, driftIgnore: [], driftFiles: [] };

export interface BackendManagerOptions {
  /** The proxy service the report names. */
  readonly service: string;
  readonly proxy: ProxyBackends;
  readonly logger: Logger;
  readonly now: () => number;
  readonly onReport: (report: BackendReport) => void;
}

export class BackendManager {
  private settings: BackendSettings = { version: 0, backends: NO_BACKENDS, intents: new Map() };
  private applied = 0;
  private applyError = '';
  private errorVersion = 0;
  private retryAtMs = 0;
  private last: BackendReport | undefined;
  private lastKey = '';
  private readonly files = new StatCache(sha256);
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly o: BackendManagerOptions) {}

  /** The latest report (undefined until the first one). */
  get report(): BackendReport | undefined {
    return this.last;
  }

  start(): void {
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Follows a new desired state (its backends, or none from a coordinator that knows none). */
  setDesired(d: DesiredState): void {
    const backends = d.backends ?? NO_BACKENDS;
    this.settings = { version: d.version, backends, intents: new Map(backends.intents.map((i) => [serverKey(i.pool, i.server), i])) };
    this.retryAtMs = 0;
    this.kick();
  }

  /** The proxy started, reloaded or restarted: what it runs may have been forgotten. */
  proxyCycled(): void {
    this.retryAtMs = 0;
    this.kick();
  }

  /** Resolves once the pass in progress, if any, is over. */
  async idle(): Promise<void> {
    while (this.busy) await this.busy;
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.busy = this.pass()
      .catch((err: unknown) => this.o.logger.error({ event: 'backends.failed', err }, 'backend pass failed'))
      .finally(() => {
        this.busy = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async pass(): Promise<void> {
    const s = this.settings;
    const { proxy, logger } = this.o;
    let obs = await proxy.observe(s);
    const due = s.version > 0 && (s.version !== this.applied || !intentsMet(obs.servers, s.intents.values()));
    if (due && this.o.now() >= this.retryAtMs) {
      const r = await proxy.apply(s);
      if (r.ok) {
        obs = await proxy.observe(s);
        const met = intentsMet(obs.servers, s.intents.values());
        if (r.message !== 'nothing to change') logger.info({ event: 'backends.applied', version: s.version, message: r.message, met }, `backend settings of desired state ${s.version} applied: ${r.message}`);
        this.applyError = met ? '' : `applied (${r.message}), but the proxy does not run it yet`;
        this.errorVersion = s.version;
        if (met) this.applied = s.version;
      } else {
        this.applyError = r.error;
        this.errorVersion = s.version;
        this.retryAtMs = this.o.now() + RETRY_MS;
        logger.warn({ event: 'backends.apply_failed', version: s.version, error: r.error }, `backend settings of desired state ${s.version} not applied: ${r.error}`);
      }
    }
    const drift = await this.driftFiles(s.backends.driftFiles);
    this.publish({
      service: this.o.service,
      servers: obs.servers,
      appliedVersion: this.applied,
      error: this.applyError,
      errorVersion: this.errorVersion,
      configDigest: obs.config?.digest ?? '',
      filesDigest: drift.digest,
      configFiles: [...(obs.config?.files ?? []), ...drift.files],
      observeError: obs.error,
      observedMs: 0,
      readmitMs: obs.readmitMs,
    });
    const draining = obs.servers.some((x) => x.sessions > 0 && (s.intents.get(serverKey(x.pool, x.server))?.admin ?? 'ready') !== 'ready');
    this.schedule(draining);
  }

  private async driftFiles(paths: readonly string[]): Promise<{ digest: string; files: ConfigFileDigest[] }> {
    this.files.keep(new Set(paths));
    const files: ConfigFileDigest[] = [];
    for (const path of paths) files.push({ path, digest: (await this.files.read(path)) ?? '' });
    return { digest: files.length === 0 ? '' : sha256(files.map((f) => `${f.path}\u0000${f.digest}\n`).join('')), files };
  }

  /** Publishes the report when anything but its time changed; the time says when it last did. */
  private publish(r: BackendReport): void {
    const key = JSON.stringify(r);
    if (key === this.lastKey) return;
    this.lastKey = key;
    this.last = { ...r, observedMs: this.o.now() };
    this.o.onReport(this.last);
  }

  private schedule(draining: boolean): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const interval = draining ? DRAINING_INTERVAL_MS : this.settings.backends.reportIntervalMs || DEFAULT_REPORT_INTERVAL_MS;
    this.timer = setTimeout(() => this.kick(), interval);
    this.timer.unref();
  }
}
