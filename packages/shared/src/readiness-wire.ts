// Converts standby readiness between generated protobuf types and domain types (wire.ts does
// the rest). Incoming values are bounded and checked here.
import { isIP } from 'node:net';
import * as pb from '../generated/lbha/v1/types.js';
import { WireError } from './errors.js';
import type { ReadinessProbe, ReadinessProbeKind, ReadinessReport, VipReadiness } from './readiness.js';
import type { CheckResult } from './domain.js';

/** Bounds on one report, so that a broken agent cannot flood the coordinator. */
export const READINESS_REPORT_LIMITS = { vips: 1024, reason: 1024 } as const;

type ResultCodec = {
  toWire(r: CheckResult): pb.CheckResult;
  fromWire(r: pb.CheckResult | undefined, path: string): CheckResult;
};

const KINDS: ReadonlyArray<readonly [ReadinessProbeKind, pb.ReadinessProbeKind]> = [
  ['http', pb.ReadinessProbeKind.READINESS_PROBE_KIND_HTTP],
  ['tcp', pb.ReadinessProbeKind.READINESS_PROBE_KIND_TCP],
];

export function readinessProbeToWire(p: ReadinessProbe): pb.ReadinessProbe {
  return { ...p, kind: (KINDS.find(([d]) => d === p.kind) as readonly [ReadinessProbeKind, pb.ReadinessProbeKind])[1] };
}

export function readinessProbeFromWire(p: pb.ReadinessProbe, path: string): ReadinessProbe {
  const kind = KINDS.find(([, w]) => w === p.kind)?.[0];
  if (kind === undefined) throw new WireError(`${path}.kind`, `unknown ReadinessProbeKind value ${p.kind}`);
  if (p.port < 1 || p.port > 65535) throw new WireError(`${path}.port`, `must be 1..65535, got ${p.port}`);
  if (isIP(p.connect) === 0) throw new WireError(`${path}.connect`, `must be an IP address, got ${JSON.stringify(p.connect)}`);
  if (/[\r\n]/.test(p.host) || p.host.length > 253) throw new WireError(`${path}.host`, 'must be at most 253 characters without line breaks');
  if (!p.path.startsWith('/') || /[\s]/.test(p.path) || p.path.length > 1024) throw new WireError(`${path}.path`, `must start with / and contain no blanks, got ${JSON.stringify(p.path)}`);
  if (p.intervalMs < 1 || p.timeoutMs < 1 || p.fall < 1 || p.rise < 1) throw new WireError(path, 'interval, timeout, fall and rise must be positive');
  return { kind, port: p.port, connect: p.connect, host: p.host, path: p.path, intervalMs: p.intervalMs, timeoutMs: p.timeoutMs, fall: p.fall, rise: p.rise };
}

function vipReadinessToWire(r: VipReadiness, result: ResultCodec): pb.VipReadiness {
  return { vip: r.vip, result: result.toWire(r.result), sinceMs: r.sinceMs, durationMs: r.durationMs };
}

function vipReadinessFromWire(r: pb.VipReadiness, path: string, result: ResultCodec): VipReadiness {
  if (r.vip === '') throw new WireError(`${path}.vip`, 'must not be empty');
  const res = result.fromWire(r.result, `${path}.result`);
  const bounded: CheckResult = res.kind === 'healthy' || res.reason.length <= READINESS_REPORT_LIMITS.reason ? res : { kind: res.kind, reason: res.reason.slice(0, READINESS_REPORT_LIMITS.reason) };
  return { vip: r.vip, result: bounded, sinceMs: r.sinceMs, durationMs: r.durationMs };
}

export function readinessReportToWire(r: ReadinessReport, result: ResultCodec): pb.ReadinessReport {
  return { vips: r.vips.map((v) => vipReadinessToWire(v, result)) };
}

export function readinessReportFromWire(r: pb.ReadinessReport, path: string, result: ResultCodec): ReadinessReport {
  if (r.vips.length > READINESS_REPORT_LIMITS.vips) throw new WireError(`${path}.vips`, `at most ${READINESS_REPORT_LIMITS.vips} entries, got ${r.vips.length}`);
  return { vips: r.vips.map((v, i) => vipReadinessFromWire(v, `${path}.vips[${i}]`, result)) };
}
