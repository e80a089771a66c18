// Process alive, fed by the supervisor: the exit of a direct child is an event, not a poll.
// While a crashed proxy is being restarted inside its grace period the check holds its last
// verdict, so a restart in place moves no VIP; once the supervisor gives the proxy up
// (config invalid, or not back within the grace) the check fails at once.
import { HEALTHY, unhealthy, type CheckResult, type ServiceState } from '@lbha/shared';
import type { Probe, ProbeEmit } from './probe.js';

/** What the process check needs from a supervised service. */
export interface ServiceLiveness {
  readonly name: string;
  liveness(): { readonly state: ServiceState; readonly lastError: string; readonly hung?: string };
  onLiveness(listener: () => void): () => void;
}

function resultOf(s: ServiceLiveness): CheckResult | undefined {
  const l = s.liveness();
  switch (l.state) {
    case 'running':
      // Alive but not taking connections (stall-watch.ts): as good as dead for its VIPs.
      return l.hung ? unhealthy(`${s.name} is hung: ${l.hung}`) : HEALTHY;
    case 'starting':
      return undefined;
    case 'failed':
      return unhealthy(`${s.name} is down${l.lastError ? `: ${l.lastError}` : ''}`);
    case 'stopped':
      return unhealthy(`${s.name} is stopped`);
    case 'unknown':
      return undefined;
  }
}

export function processProbe(service: ServiceLiveness): Probe {
  return {
    async probe(): Promise<CheckResult | undefined> {
      // A poll during a restart has no news: the verdict holds until the supervisor decides.
      return resultOf(service);
    },
    watch(emit: ProbeEmit) {
      return service.onLiveness(() => {
        const r = resultOf(service);
        if (r) emit(r, r.kind !== 'healthy');
      });
    },
  };
}
