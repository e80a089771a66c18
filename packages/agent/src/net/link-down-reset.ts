// A tracked link going down (the seed's track_interface: the inner link the proxy reaches its
// backends through) ends the TCP connections the node has open on the VIPs of the instances that
// track it, as `ss -K` does (sock_diag SOCK_DESTROY: the kernel sends the client a reset and the
// proxy sees its client connection fail). A request the proxy had sent to a backend over the
// link would otherwise wait for the proxy's upstream timeout (nginx: 60 s), and its client with
// it; the connections idle now would get a 502 or the same wait at their next request. Those
// connections have nothing left on this node: keepalived puts the instances in FAULT and the VIP
// moves, after which the new holder resets them at their next packet anyway. Resetting them at
// once lets a client resend an idempotent request on a new connection, which the peer serves
// (docs/design/unplanned-failover.md, "The inner link down").
import { parseCidr, type DesiredState, type Logger } from '@lbha/shared';
import type { CommandRunner } from '../util/run-command.js';
import { openConnectionsArgs, ssCount } from './handover-connections.js';

/**
 * The VIPs whose connections a link going down ends: those of the instances that track the link,
 * unless it is the VIP's own interface (its clients are behind the link then, and a reset could
 * not reach them). Pure.
 */
export function vipsBehindLink(d: DesiredState | undefined, ifname: string): string[] {
  const vips = new Set<string>();
  for (const i of d?.instances ?? []) {
    if (i.interface === ifname || !i.trackInterfaces.includes(ifname)) continue;
    const cidr = parseCidr(i.vip);
    if (typeof cidr !== 'string') vips.add(cidr.address);
  }
  return [...vips];
}

/** `ss` arguments that end (SOCK_DESTROY) the open TCP connections whose local address is `vip`. */
export function resetConnectionsArgs(vip: string): string[] {
  return ['-K', ...openConnectionsArgs(vip)];
}

export interface LinkDownResetOptions {
  readonly ssProgram: string;
  readonly run: CommandRunner;
  readonly logger: Logger;
}

export class LinkDownReset {
  constructor(private readonly o: LinkDownResetOptions) {}

  /**
   * `ifname` went down: ends the connections on the VIPs behind it. Returns how many were ended
   * per VIP (`ss -K` names only the sockets the kernel destroyed; a kernel without
   * CONFIG_INET_DIAG_DESTROY destroys none, so when none is named they are counted again to tell).
   */
  async linkDown(d: DesiredState | undefined, ifname: string): Promise<Map<string, number>> {
    const ended = new Map<string, number>();
    const log = this.o.logger;
    for (const vip of vipsBehindLink(d, ifname)) {
      const r = await this.o.run(this.o.ssProgram, resetConnectionsArgs(vip), { timeoutMs: 5_000 });
      if (r.exitCode !== 0) {
        log.warn({ event: 'failover.reset_failed', interface: ifname, vip, error: r.spawnError ?? r.output }, `${ifname} is down: cannot end the connections on ${vip}: ${r.spawnError ?? r.output}`);
        continue;
      }
      const n = ssCount(r.stdout);
      ended.set(vip, n);
      if (n > 0) {
        log.warn({ event: 'failover.connections_reset', interface: ifname, vip, connections: n }, `${ifname} is down: reset ${n} connections on ${vip}; their clients reconnect to the peer`);
        continue;
      }
      const left = await this.o.run(this.o.ssProgram, openConnectionsArgs(vip), { timeoutMs: 5_000 });
      const remaining = left.exitCode === 0 ? ssCount(left.stdout) : 0;
      if (remaining > 0) log.warn({ event: 'failover.reset_failed', interface: ifname, vip, connections: remaining }, `${ifname} is down: the kernel ended none of the ${remaining} connections on ${vip} (built without CONFIG_INET_DIAG_DESTROY?); they wait for the proxy's timeouts`);
    }
    return ended;
  }
}
