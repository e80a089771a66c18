// One connection handover this node runs for a planned VIP move (docs/design/handover.md):
// what a desired state asks for, and what the agent refuses to carry out.
import { isIP } from 'node:net';
import { parseCidr, type DesiredState, type HandoverRole } from '@lbha/shared';

export interface HandoverTask {
  readonly instance: string;
  readonly vrid: number;
  readonly interface: string;
  /** The VIP's address, without prefix. */
  readonly vip: string;
  readonly role: HandoverRole;
  readonly peer: string;
  readonly untilMs: number;
}

const IFNAME = /^[A-Za-z0-9_.@-]{1,15}$/;

/** Why a task cannot be carried out, or undefined. */
export function handoverTaskProblem(t: HandoverTask): string | undefined {
  if (!IFNAME.test(t.interface)) return `interface name ${JSON.stringify(t.interface)} cannot be used in an nftables rule`;
  if (!isIP(t.vip)) return `${JSON.stringify(t.vip)} is not an IP address`;
  if (isIP(t.peer) !== isIP(t.vip)) return `peer ${JSON.stringify(t.peer)} is not an IPv${isIP(t.vip)} address like the VIP`;
  if (t.vip === t.peer) return 'peer is the VIP itself';
  return undefined;
}

/** The handovers `d` asks of this node, one per instance that carries one. */
export function handoverTasks(d: DesiredState): HandoverTask[] {
  const out: HandoverTask[] = [];
  for (const i of d.instances) {
    const cidr = parseCidr(i.vip);
    if (!i.handover || typeof cidr === 'string') continue;
    out.push({ instance: i.name, vrid: i.vrid, interface: i.interface, vip: cidr.address, role: i.handover.role, peer: i.handover.peer, untilMs: i.handover.untilMs });
  }
  return out;
}
