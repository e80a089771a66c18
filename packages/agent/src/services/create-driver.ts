// Builds the driver for a configured service: daemon spec (what it is) x supervisor (who runs it).
import type { Logger, ServiceStats } from '@lbha/shared';
import type { KeepalivedOptions, ProxyServiceOptions, SupervisionOptions } from '../agent-options.js';
import type { CommandRunner } from '../util/run-command.js';
import { haproxySpec, keepalivedSpec, nginxSpec, type DaemonSpec } from './daemon-spec.js';
import { DirectSupervisor } from './direct-supervisor.js';
import { fetchHaproxyStats } from './haproxy-stats.js';
import { fetchStubStatus } from './nginx-stats.js';
import type { ServiceDriver } from './service-driver.js';
import { SystemdSupervisor } from './systemd-supervisor.js';

interface DriverContext {
  readonly supervision: SupervisionOptions;
  readonly systemctl: string;
  readonly run: CommandRunner;
  readonly logger: Logger;
}

function build(
  name: string,
  spec: DaemonSpec,
  s: { supervisor: 'direct' | 'systemd'; unit: string; pidFile: string; logFile: string },
  stats: () => Promise<ServiceStats | undefined>,
  ctx: DriverContext,
): ServiceDriver {
  const logger = ctx.logger.child({ service: name });
  if (s.supervisor === 'systemd') {
    return new SystemdSupervisor({ name, spec, unit: s.unit, systemctl: ctx.systemctl, pollMs: ctx.supervision.pollIntervalMs, refreshMs: 10_000, run: ctx.run, stats, logger });
  }
  return new DirectSupervisor({
    name,
    spec,
    pidFile: s.pidFile,
    logFile: s.logFile,
    startupMs: ctx.supervision.startupWindowMs,
    stopTimeoutMs: ctx.supervision.stopTimeoutMs,
    pollMs: ctx.supervision.pollIntervalMs,
    run: ctx.run,
    stats,
    logger,
  });
}

export function createProxyDriver(o: ProxyServiceOptions, ctx: DriverContext): ServiceDriver {
  if (o.kind === 'nginx') {
    const spec = nginxSpec({ binary: o.binary, configFile: o.configFile, prefix: o.prefix, errorLog: o.errorLog });
    const stats = o.statusUrl ? () => fetchStubStatus(o.statusUrl) : () => Promise.resolve(undefined);
    return build(o.name, spec, o, stats, ctx);
  }
  const spec = haproxySpec({ binary: o.binary, configFile: o.configFile });
  const stats = o.statsSocket ? () => fetchHaproxyStats(o.statsSocket) : () => Promise.resolve(undefined);
  return build(o.name, spec, o, stats, ctx);
}

export function createKeepalivedDriver(o: KeepalivedOptions, ctx: DriverContext): ServiceDriver {
  const spec = keepalivedSpec({ binary: o.binary, configFile: o.configFile, pidFile: o.pidFile, vrrpPidFile: o.vrrpPidFile });
  return build('keepalived', spec, { supervisor: o.supervisor, unit: o.unit, pidFile: o.agentPidFile, logFile: o.logFile }, () => Promise.resolve(undefined), ctx);
}
