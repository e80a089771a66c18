// The coordinator configuration's drill section, compiled into what a drill uses: a prober
// (the coordinator itself, or a configured command) and the hold time.
import type { CoordinatorConfig } from '../coordinator-config.js';
import type { DrillSettings } from '../operations/operation-env.js';
import { commandProber } from './command-prober.js';
import { networkProber } from './network-prober.js';
import type { ProbeSettings } from './vip-prober.js';

export function drillSettings(config: CoordinatorConfig['drill'], clock: () => number = Date.now): DrillSettings {
  const p = config.probe;
  const settings: ProbeSettings = { mode: p.mode, port: p.port, path: p.path, host: p.host, intervalMs: p.interval, timeoutMs: p.timeout };
  return { prober: p.command.length > 0 ? commandProber(p.command, settings, clock) : networkProber(settings, clock), holdMs: config.hold };
}

/** What a coordinator configuration without a drill section gets. */
export function defaultDrillSettings(clock: () => number = Date.now): DrillSettings {
  return { prober: networkProber({ mode: 'http', port: 80, path: '/', host: '', intervalMs: 25, timeoutMs: 1000 }, clock), holdMs: 2000 };
}
