// Converts the backend pool's generated protobuf types to domain types and back (wire.ts does
// the rest). Incoming names, addresses and paths are checked here: they end up in haproxy
// runtime commands, nginx includes and metric labels.
import * as pb from '../generated/lbha/v1/backends.js';
import type {
  BackendAdmin,
  BackendHealth,
  BackendReport,
  BackendServer,
  ConfigFileDigest,
  DesiredBackends,
  DesiredPool,
  DesiredPoolServer,
  ServerIntent,
} from './backends.js';
import { serverNameProblem } from './backends.js';
import { enumMap } from './enum-map.js';
import { WireError } from './errors.js';

/** Bounds on one report, so that a broken agent cannot flood the coordinator. */
export const BACKEND_REPORT_LIMITS = { servers: 4096, configFiles: 256, text: 4096 } as const;

export const backendAdminWire = enumMap<BackendAdmin, pb.BackendAdminState>(
  [
    ['ready', pb.BackendAdminState.BACKEND_ADMIN_STATE_READY],
    ['drain', pb.BackendAdminState.BACKEND_ADMIN_STATE_DRAIN],
    ['maint', pb.BackendAdminState.BACKEND_ADMIN_STATE_MAINT],
  ],
  'BackendAdminState',
);

export function backendHealthToWire(h: BackendHealth): pb.BackendHealth {
  return h === 'up' ? pb.BackendHealth.BACKEND_HEALTH_UP : h === 'down' ? pb.BackendHealth.BACKEND_HEALTH_DOWN : pb.BackendHealth.BACKEND_HEALTH_UNSPECIFIED;
}

export function backendHealthFromWire(w: pb.BackendHealth): BackendHealth {
  return w === pb.BackendHealth.BACKEND_HEALTH_UP ? 'up' : w === pb.BackendHealth.BACKEND_HEALTH_DOWN ? 'down' : 'unknown';
}

function name(value: string, path: string): string {
  const p = serverNameProblem(value);
  if (p) throw new WireError(path, p);
  return value;
}

function text(value: string, path: string): string {
  if (value.length > BACKEND_REPORT_LIMITS.text) throw new WireError(path, `at most ${BACKEND_REPORT_LIMITS.text} characters`);
  return value;
}

const ADDRESS = /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/;

/** "a.b.c.d:port" or "[v6]:port": what nginx upstream lines and the socket table use. */
export function serverAddressProblem(value: string): string | undefined {
  const m = ADDRESS.exec(value);
  const port = Number(value.slice(value.lastIndexOf(':') + 1));
  if (!m || port < 1 || port > 65535) return `${JSON.stringify(value)} is not an address with a port, e.g. 192.168.50.22:80 or [2001:db8::1]:80`;
  return undefined;
}

function address(value: string, path: string): string {
  const p = serverAddressProblem(value);
  if (p) throw new WireError(path, p);
  return value;
}

function limited<T>(list: readonly T[], max: number, path: string): readonly T[] {
  if (list.length > max) throw new WireError(path, `at most ${max} entries, got ${list.length}`);
  return list;
}

// ---- the agent's report ----

export function backendReportToWire(r: BackendReport): pb.BackendReport {
  return {
    service: r.service,
    servers: r.servers.map((s) => ({ ...s, admin: backendAdminWire.toWire(s.admin), health: backendHealthToWire(s.health) })),
    appliedVersion: r.appliedVersion,
    error: r.error,
    errorVersion: r.errorVersion,
    configDigest: r.configDigest,
    filesDigest: r.filesDigest,
    configFiles: r.configFiles.map((f) => ({ path: f.path, digest: f.digest })),
    observeError: r.observeError,
    observedMs: r.observedMs,
    readmitMs: r.readmitMs,
  };
}

function serverFromWire(s: pb.BackendServer, path: string): BackendServer {
  return {
    pool: name(s.pool, `${path}.pool`),
    server: name(s.server, `${path}.server`),
    address: text(s.address, `${path}.address`),
    admin: backendAdminWire.fromWire(s.admin, `${path}.admin`),
    health: backendHealthFromWire(s.health),
    weight: s.weight,
    sessions: s.sessions,
    check: text(s.check, `${path}.check`),
    managed: s.managed,
  };
}

export function backendReportFromWire(r: pb.BackendReport, path: string): BackendReport {
  const servers = limited(r.servers, BACKEND_REPORT_LIMITS.servers, `${path}.servers`);
  const files = limited(r.configFiles, BACKEND_REPORT_LIMITS.configFiles, `${path}.configFiles`);
  return {
    service: text(r.service, `${path}.service`),
    servers: servers.map((s, i) => serverFromWire(s, `${path}.servers[${i}]`)),
    appliedVersion: r.appliedVersion,
    error: text(r.error, `${path}.error`),
    errorVersion: r.errorVersion,
    configDigest: text(r.configDigest, `${path}.configDigest`),
    filesDigest: text(r.filesDigest, `${path}.filesDigest`),
    configFiles: files.map((f, i): ConfigFileDigest => ({ path: text(f.path, `${path}.configFiles[${i}].path`), digest: text(f.digest, `${path}.configFiles[${i}].digest`) })),
    observeError: text(r.observeError, `${path}.observeError`),
    observedMs: r.observedMs,
    readmitMs: r.readmitMs,
  };
}

// ---- what the coordinator wants ----

export function desiredBackendsToWire(d: DesiredBackends): pb.DesiredBackends {
  return {
    pools: d.pools.map((p) => ({ name: p.name, servers: p.servers.map((s) => ({ ...s, maxFails: s.maxFails ?? undefined, failTimeoutMs: s.failTimeoutMs ?? undefined })) })),
    intents: d.intents.map((i) => ({ pool: i.pool, server: i.server, admin: backendAdminWire.toWire(i.admin), weight: i.weight })),
    reportIntervalMs: d.reportIntervalMs,
    driftIgnore: [...d.driftIgnore],
    driftFiles: [...d.driftFiles],
  };
}

const DIRECTIVE = /^[a-z0-9_.-]+( [a-z0-9_.-]+){0,2}$/;
const ABSOLUTE_PATH = /^\/[^\0\n\r]*$/;

function poolServerFromWire(s: pb.DesiredPoolServer, path: string): DesiredPoolServer {
  return {
    name: name(s.name, `${path}.name`),
    address: address(s.address, `${path}.address`),
    weight: s.weight,
    // Absent (a coordinator built before these fields were optional sends no 0): not rendered.
    maxFails: s.maxFails ?? null,
    failTimeoutMs: s.failTimeoutMs ?? null,
    maxConns: s.maxConns,
    backup: s.backup,
  };
}

function intentFromWire(i: pb.ServerIntent, path: string): ServerIntent {
  if (i.weight !== undefined && i.weight > 1000) throw new WireError(`${path}.weight`, `must be at most 1000, got ${i.weight}`);
  return {
    pool: name(i.pool, `${path}.pool`),
    server: name(i.server, `${path}.server`),
    admin: backendAdminWire.fromWire(i.admin, `${path}.admin`),
    ...(i.weight === undefined ? {} : { weight: i.weight }),
  };
}

export function desiredBackendsFromWire(d: pb.DesiredBackends, path: string): DesiredBackends {
  const pools = d.pools.map((p, i): DesiredPool => ({
    name: name(p.name, `${path}.pools[${i}].name`),
    servers: p.servers.map((s, j) => poolServerFromWire(s, `${path}.pools[${i}].servers[${j}]`)),
  }));
  d.driftIgnore.forEach((x, i) => {
    if (!DIRECTIVE.test(x)) throw new WireError(`${path}.driftIgnore[${i}]`, `${JSON.stringify(x)} is not a directive name`);
  });
  d.driftFiles.forEach((x, i) => {
    if (!ABSOLUTE_PATH.test(x)) throw new WireError(`${path}.driftFiles[${i}]`, `${JSON.stringify(x)} is not an absolute path`);
  });
  return {
    pools,
    intents: d.intents.map((x, i) => intentFromWire(x, `${path}.intents[${i}]`)),
    reportIntervalMs: d.reportIntervalMs,
    driftIgnore: [...d.driftIgnore],
    driftFiles: [...d.driftFiles],
  };
}
