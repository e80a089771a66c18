// The seed's track_interface, as a check: link and carrier from sysfs, with netlink events
// (confirmed by a sysfs read) so a link going down is seen at once, not at the next poll.
import { HEALTHY, unhealthy, type CheckResult } from '@lbha/shared';
import { linkProblem, readLinkState } from '../net/interface-state.js';
import type { NetlinkEvent } from '../net/netlink-monitor.js';
import type { Probe, ProbeEmit } from './probe.js';

export interface LinkEvents {
  subscribe(listener: (e: NetlinkEvent) => void): () => void;
}

export function interfaceProbe(ifname: string, events: LinkEvents | undefined, sysfsRoot?: string): Probe {
  const read = async (): Promise<CheckResult> => {
    const problem = linkProblem(ifname, await readLinkState(ifname, sysfsRoot));
    return problem ? unhealthy(problem) : HEALTHY;
  };
  const probe: Probe = { probe: () => read() };
  if (events) {
    probe.watch = (emit: ProbeEmit) =>
      events.subscribe((e) => {
        if (e.type !== 'link' || e.ifname !== ifname) return;
        void read().then((r) => emit(r, r.kind !== 'healthy'));
      });
  }
  return probe;
}
