// The checks a node runs for a desired state: the desired ones, plus a process check for the
// proxy when none of them watches it, with the agent's defaults filled in.
import type { CheckSpec, DesiredState } from '@lbha/shared';
import { withDefaults } from './check-defaults.js';

/**
 * `proxies`: the proxy services configured on the agent (used without a desired state);
 * `sameService(a, b)`: whether two names (a configured name or a kind) denote one service.
 */
export function nodeCheckSpecs(d: DesiredState | undefined, proxies: readonly string[], sameService: (a: string, b: string) => boolean): CheckSpec[] {
  const specs = [...(d?.checks ?? [])];
  const watched = d ? (d.proxyService ? [d.proxyService] : []) : proxies;
  for (const svc of watched) {
    const covered = specs.some((c) => c.params.kind === 'process' && sameService(c.params.service, svc));
    const name = `${svc}-process`;
    if (!covered && !specs.some((c) => c.name === name)) {
      specs.push({ name, intervalMs: 0, timeoutMs: 0, fall: 0, rise: 0, effect: 'fault', penalty: 0, params: { kind: 'process', service: svc } });
    }
  }
  return specs.map(withDefaults);
}
