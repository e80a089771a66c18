// Whether a node's proxy would serve a VIP it does not hold, from the two things the readiness
// probe learns: does the proxy's config on disk validate (a broken file that the running proxy
// has not loaded yet makes the next reload or restart fail), and what the proxy answered to a
// request for the VIP's port and host. Pure.
import { HEALTHY, unhealthy, type CheckResult } from '@lbha/shared';
import type { ValidationResult } from '../services/service-driver.js';

/** What came back through the proxy. */
export type ProxyAnswer =
  /** An HTTP response with this status. */
  | { readonly kind: 'status'; readonly status: number }
  /** TCP probe: the proxy accepted the connection. */
  | { readonly kind: 'accepted' }
  /** No answer: refused, reset, timed out, not HTTP. */
  | { readonly kind: 'failed'; readonly error: string };

/**
 * Ready when the config validates and the proxy answered without a 5xx: a 502/503/504 is the
 * proxy saying it could not reach the VIP's backends from this node.
 */
export function readinessVerdict(service: string, config: ValidationResult, answer: ProxyAnswer, target: string): CheckResult {
  if (!config.ok) return unhealthy(`${service} config on disk does not validate, so a reload or restart would fail: ${firstLines(config.output)}`);
  switch (answer.kind) {
    case 'accepted':
      return HEALTHY;
    case 'failed':
      return unhealthy(`${target}: ${answer.error}`);
    case 'status':
      return answer.status >= 500 ? unhealthy(`${target} answered ${answer.status}: the proxy could not get an answer from the VIP's backends`) : HEALTHY;
  }
}

function firstLines(text: string, n = 2): string {
  return text.split('\n').map((l) => l.trim()).filter(Boolean).slice(0, n).join(' | ') || 'no output';
}
