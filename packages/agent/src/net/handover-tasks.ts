// The handovers a desired state asks of this node, one per instance that carries one.
import { parseCidr, type DesiredState } from '@lbha/shared';
import type { HandoverTask } from './handover.js';

export function handoverTasks(d: DesiredState): HandoverTask[] {
  const out: HandoverTask[] = [];
  for (const i of d.instances) {
    const cidr = parseCidr(i.vip);
    if (!i.handover || typeof cidr === 'string') continue;
    out.push({ instance: i.name, vrid: i.vrid, interface: i.interface, vip: cidr.address, role: i.handover.role, peer: i.handover.peer, untilMs: i.handover.untilMs });
  }
  return out;
}
