// The agent configuration compiled once: every default filled and every path resolved, so
// the rest of the agent never tests for undefined or joins paths itself.
import { join } from 'node:path';
import type { AgentConfig } from './agent-config.js';
import type { SupervisorKind } from './services/service-driver.js';

export interface ProxyServiceOptions {
  readonly name: string;
  readonly kind: 'nginx' | 'haproxy';
  readonly supervisor: SupervisorKind;
  readonly binary: string;
  readonly configFile: string;
  readonly prefix: string;
  readonly errorLog: string;
  readonly statusUrl: string;
  readonly statsSocket: string;
  readonly unit: string;
  readonly pidFile: string;
  readonly logFile: string;
  readonly autoStart: boolean;
  /** nginx: where the managed upstream includes are written. */
  readonly upstreamsDir: string;
  /** haproxy: where `show servers state` is kept for `load-server-state-from-file` ('' for nowhere). */
  readonly serverStateFile: string;
}

export interface KeepalivedOptions {
  readonly supervisor: SupervisorKind;
  readonly binary: string;
  readonly configFile: string;
  readonly pidFile: string;
  readonly vrrpPidFile: string;
  readonly notifyFifo: string;
  readonly trackDir: string;
  readonly logFile: string;
  readonly agentPidFile: string;
  readonly unit: string;
  readonly routerId: string;
}

export interface SupervisionOptions {
  readonly restartGraceMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly stableAfterMs: number;
  readonly startupWindowMs: number;
  readonly stopTimeoutMs: number;
  readonly pollIntervalMs: number;
  /** A proxy hung this long is killed and restarted in place; 0: never. */
  readonly hungRestartAfterMs: number;
}

export interface AgentOptions {
  readonly node: string;
  readonly cluster: string;
  readonly stateDir: string;
  readonly runtimeDir: string;
  /** host and port of the metrics endpoint, undefined when disabled. */
  readonly metricsListen: { readonly host: string; readonly port: number } | undefined;
  readonly keepalived: KeepalivedOptions;
  readonly services: readonly ProxyServiceOptions[];
  readonly supervision: SupervisionOptions;
  readonly ipProgram: string;
  readonly nftProgram: string;
  /** Sends the priority-0 VRRP adverts of a keepalived that died (raw sockets; perl-base is always there on Debian). */
  readonly perlProgram: string;
  readonly ssProgram: string;
  readonly systemctlProgram: string;
  readonly stopServicesOnExit: boolean;
  /** /sys/class/net, replaceable in tests. */
  readonly sysfsNetRoot: string;
  /** /proc/sys, replaceable in tests. */
  readonly procSysRoot?: string;
  /** /proc/net (the socket tables), replaceable in tests. */
  readonly procNetRoot: string;
}

export function parseListen(v: string): { host: string; port: number } | undefined {
  if (!v) return undefined;
  const i = v.lastIndexOf(':');
  return { host: v.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(v.slice(i + 1)) };
}

const DEFAULT_BINARY = { nginx: '/usr/sbin/nginx', haproxy: '/usr/sbin/haproxy' } as const;

export function compileAgentOptions(c: AgentConfig): AgentOptions {
  const run = c.runtimeDir;
  const k = c.keepalived;
  const systemdKeepalived = k.supervisor === 'systemd';
  return {
    node: c.node,
    cluster: c.cluster,
    stateDir: c.stateDir,
    runtimeDir: run,
    metricsListen: parseListen(c.metrics.listen),
    keepalived: {
      supervisor: k.supervisor,
      binary: k.binary,
      // keepalived.service reads /etc/keepalived/keepalived.conf unless its unit says otherwise.
      configFile: k.configFile ?? (systemdKeepalived ? '/etc/keepalived/keepalived.conf' : join(run, 'keepalived.conf')),
      pidFile: k.pidFile ?? join(run, 'keepalived.pid'),
      vrrpPidFile: k.vrrpPidFile ?? join(run, 'keepalived-vrrp.pid'),
      notifyFifo: k.notifyFifo ?? join(run, 'keepalived.fifo'),
      trackDir: k.trackDir ?? join(run, 'track'),
      logFile: k.logFile ?? join(run, 'keepalived.log'),
      agentPidFile: k.agentPidFile ?? join(run, 'keepalived.agent-pid'),
      unit: k.unit,
      routerId: k.routerId ?? c.node,
    },
    services: Object.entries(c.services).map(([name, s]) => {
      const kind = s.kind ?? (name as 'nginx' | 'haproxy');
      return {
        name,
        kind,
        supervisor: s.supervisor,
        binary: s.binary ?? DEFAULT_BINARY[kind],
        configFile: s.configFile,
        prefix: s.prefix ?? '',
        errorLog: s.errorLog ?? '',
        statusUrl: s.statusUrl ?? '',
        statsSocket: s.statsSocket ?? '',
        unit: s.unit ?? `${kind}.service`,
        pidFile: s.pidFile ?? join(run, `${name}.agent-pid`),
        logFile: s.logFile ?? join(run, `${name}.log`),
        autoStart: s.autoStart,
        upstreamsDir: s.upstreamsDir ?? join(c.stateDir, 'nginx-upstreams'),
        serverStateFile: s.serverStateFile ?? '',
      };
    }),
    supervision: {
      restartGraceMs: c.supervision.restartGrace,
      backoffInitialMs: c.supervision.backoffInitial,
      backoffMaxMs: c.supervision.backoffMax,
      stableAfterMs: c.supervision.stableAfter,
      startupWindowMs: c.supervision.startupWindow,
      stopTimeoutMs: c.supervision.stopTimeout,
      pollIntervalMs: c.supervision.pollInterval,
      hungRestartAfterMs: c.supervision.hungRestartAfter,
    },
    ipProgram: c.programs.ip,
    nftProgram: c.programs.nft,
    perlProgram: c.programs.perl,
    ssProgram: c.programs.ss,
    systemctlProgram: c.programs.systemctl,
    stopServicesOnExit: c.stopServicesOnExit,
    sysfsNetRoot: '/sys/class/net',
    procNetRoot: '/proc/net',
  };
}
