// Standby readiness on the node (docs/design/standby-readiness.md): for every VIP of the desired
// state that has a readiness probe, a check runner on the probe's interval with its fall/rise,
// proving that this node's proxy would serve the VIP if it received it. The verdicts form the
// readiness report the agent streams to the coordinator; a new report object whenever one changes.
import type { CheckSpec, DesiredState, ReadinessProbe, ReadinessReport, VipReadiness } from '@lbha/shared';
import { CheckRunner } from '../checks/check-runner.js';
import type { Probe } from '../checks/probe.js';
import type { ValidationResult } from '../services/service-driver.js';
import { ConfigValidity } from './config-validity.js';
import { proxyRequest, targetOf } from './proxy-request.js';
import { readinessVerdict } from './readiness-verdict.js';
import { WatchedFingerprint } from './watched-fingerprint.js';

/** How long the proxy's config test may take on top of the request's own timeout. */
const VALIDATE_ALLOWANCE_MS = 10_000;
/** A config test that passed runs again after this long even when no config file changed. */
export const CONFIG_BACKSTOP_MS = 30_000;

export interface StandbyReadinessOptions {
  /** The config test of the named proxy service; undefined when the agent has no such service. */
  readonly validator: (service: string) => (() => Promise<ValidationResult>) | undefined;
  /**
   * The named proxy's main config file: the config test then runs again only when a file of its
   * configuration changed (or every CONFIG_BACKSTOP_MS). Without it, once per round.
   */
  readonly configFile?: (service: string) => string | undefined;
  /** What the config test depends on, read cheaply; by default configFingerprint, read again when inotify sees a change (WatchedFingerprint). */
  readonly fingerprint?: (configFile: string) => Promise<string>;
  readonly now: () => number;
  /** The report changed. */
  readonly onChange: () => void;
}

interface Entry {
  readonly runner: CheckRunner;
  readonly key: string;
}

/** The check runner's view of a probe: its timing, and params that say where it goes. */
function runnerSpec(vip: string, p: ReadinessProbe): CheckSpec {
  const params: CheckSpec['params'] =
    p.kind === 'tcp'
      ? { kind: 'tcp', host: p.connect, port: p.port }
      : { kind: 'http', url: `http://${p.connect.includes(':') ? `[${p.connect}]` : p.connect}:${p.port}${p.path}`, method: 'GET', host: p.host, expectStatus: 0, bodyContains: '', tlsVerify: false };
  return { name: vip, intervalMs: p.intervalMs, timeoutMs: p.timeoutMs + VALIDATE_ALLOWANCE_MS, fall: p.fall, rise: p.rise, effect: 'none', penalty: 0, params };
}

export class StandbyReadiness {
  private readonly entries = new Map<string, Entry>();
  private validity: { readonly key: string; readonly validity: ConfigValidity | undefined; readonly watched?: WatchedFingerprint } | undefined;
  private last: ReadinessReport | undefined;

  constructor(private readonly o: StandbyReadinessOptions) {}

  /** The latest report; undefined while no VIP is probed. A new object whenever it changed. */
  get report(): ReadinessReport | undefined {
    return this.last;
  }

  /** Probes exactly the VIPs of `d` that have a readiness probe; changed probes restart. */
  follow(d: DesiredState): void {
    const probes = new Map(d.instances.flatMap((i) => (i.readiness ? [[i.name, i.readiness] as const] : [])));
    // One config test serves every VIP's probe of a round (half the shortest interval).
    const maxAgeMs = probes.size === 0 ? 0 : Math.max(50, Math.min(...[...probes.values()].map((p) => p.intervalMs)) / 2);
    const file = this.o.configFile?.(d.proxyService);
    const key = `${d.proxyService}\u0000${maxAgeMs}\u0000${file ?? ''}`;
    const renewed = this.validity?.key !== key;
    if (renewed) {
      const validate = this.o.validator(d.proxyService);
      this.validity?.watched?.close();
      const given = this.o.fingerprint;
      const watched = file === undefined || given || !validate ? undefined : new WatchedFingerprint(file, { now: this.o.now, maxAgeMs: CONFIG_BACKSTOP_MS });
      const fingerprint = file === undefined ? undefined : given ? () => given(file) : watched ? () => watched.fingerprint() : undefined;
      const changes = fingerprint ? { fingerprint, backstopMs: CONFIG_BACKSTOP_MS } : undefined;
      this.validity = { key, validity: validate ? new ConfigValidity(validate, maxAgeMs, this.o.now, changes) : undefined, ...(watched ? { watched } : {}) };
    }
    for (const [vip, e] of this.entries) {
      const p = probes.get(vip);
      if (p && JSON.stringify(p) === e.key && !renewed) continue;
      e.runner.stop();
      this.entries.delete(vip);
    }
    for (const [vip, p] of probes) {
      if (this.entries.has(vip)) continue;
      const runner = new CheckRunner(runnerSpec(vip, p), this.probe(d.proxyService, p), { onChange: () => this.publish() }, this.o.now);
      this.entries.set(vip, { runner, key: JSON.stringify(p) });
      runner.start();
    }
    this.publish();
  }

  stop(): void {
    for (const e of this.entries.values()) e.runner.stop();
    this.entries.clear();
    this.validity?.watched?.close();
    this.validity = undefined;
  }

  private probe(service: string, p: ReadinessProbe): Probe {
    const validity = this.validity?.validity;
    const target = targetOf(p);
    return {
      probe: async (signal) => {
        const config: ValidationResult = validity ? await validity.current() : { ok: false, output: `this agent runs no service ${service}` };
        return readinessVerdict(service, config, await proxyRequest(p, signal), target);
      },
    };
  }

  /** Rebuilds the report from the runners that have a verdict; a new object only if it changed. */
  private publish(): void {
    const vips: VipReadiness[] = [];
    for (const [vip, e] of [...this.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (!e.runner.hasVerdict) continue;
      const s = e.runner.status();
      vips.push({ vip, result: s.result, sinceMs: s.sinceMs, durationMs: s.durationMs });
    }
    const next = vips.length === 0 ? undefined : { vips };
    const same = next === undefined ? this.last === undefined : this.last !== undefined && sameReport(this.last, next);
    if (same) return;
    this.last = next;
    this.o.onChange();
  }
}

function sameReport(a: ReadinessReport, b: ReadinessReport): boolean {
  return a.vips.length === b.vips.length && a.vips.every((x, i) => {
    const y = b.vips[i] as VipReadiness;
    return x.vip === y.vip && x.sinceMs === y.sinceMs && JSON.stringify(x.result) === JSON.stringify(y.result);
  });
}
