// Standby readiness: whether a node's proxy would serve a VIP it does not hold (its config on
// disk validates and a request through it for the VIP's port and host gets a non-5xx answer).
// The agent proves it per VIP; placement never chooses a standby that fails it while another
// candidate passes (docs/design/standby-readiness.md).
import type { CheckResult } from './domain.js';

/** http: a request for the VIP's host through the proxy; tcp: the proxy accepts a connection. */
export type ReadinessProbeKind = 'http' | 'tcp';

/** How a node proves it would serve one VIP (defaults filled by the coordinator). */
export interface ReadinessProbe {
  readonly kind: ReadinessProbeKind;
  readonly port: number;
  /** Where the request goes: an address the proxy listens on without holding the VIP. */
  readonly connect: string;
  /** HTTP only: the Host header and the path. */
  readonly host: string;
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly fall: number;
  readonly rise: number;
}

/** One VIP's readiness on one node: healthy = ready; unknown counts as not ready. */
export interface VipReadiness {
  readonly vip: string;
  readonly result: CheckResult;
  readonly sinceMs: number;
  readonly durationMs: number;
}

/** Every VIP the node probes, sorted by VIP name. */
export interface ReadinessReport {
  readonly vips: readonly VipReadiness[];
}

/** ready | not_ready, as operators and metrics see it (unknown is not proven, so not ready). */
export type ReadinessState = 'ready' | 'not_ready';

export function readinessState(r: VipReadiness): ReadinessState {
  return r.result.kind === 'healthy' ? 'ready' : 'not_ready';
}

/** Why a VIP is not ready on a node; '' when it is. */
export function readinessReason(r: VipReadiness): string {
  return r.result.kind === 'healthy' ? '' : r.result.reason;
}
