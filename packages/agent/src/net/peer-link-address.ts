// A peer's link-layer (MAC) address, as the kernel's neighbour table has it: what the handover
// and the failover tables forward frames to. When the table has no usable entry, one UDP
// datagram to the peer's discard port makes the kernel resolve it, and the table is read again
// for a moment.
import { isIPv6 } from 'node:net';
import type { CommandRunner } from '../util/run-command.js';

export interface PeerLinkAddressOptions {
  readonly ipProgram: string;
  /** Runs the one-line UDP probe (default: this node). */
  readonly nodeProgram?: string;
  readonly run: CommandRunner;
}

/** Sends one UDP datagram to [argv[1]]:9 (discard): the kernel resolves the peer's link address. */
const PROBE_SCRIPT =
  "const a=process.argv[1];const s=require('node:dgram').createSocket(require('node:net').isIPv6(a)?'udp6':'udp4');s.on('error',()=>process.exit(1));s.send('lbha',9,a,()=>s.close())";
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const RETRY_MS = 50;

/** The MAC address of `peer` on `iface`; undefined when it does not resolve within `attempts` reads after the probe. */
export async function peerLinkAddress(o: PeerLinkAddressOptions, peer: string, iface: string, attempts: number): Promise<string | undefined> {
  const lookup = async (): Promise<string | undefined> => {
    const r = await o.run(o.ipProgram, ['-j', isIPv6(peer) ? '-6' : '-4', 'neigh', 'show', peer, 'dev', iface], { timeoutMs: 5_000 });
    try {
      const n = (JSON.parse(r.stdout) as Array<{ lladdr?: string; state?: string[] }>)[0];
      return n?.lladdr && MAC.test(n.lladdr) && !n.state?.includes('FAILED') && !n.state?.includes('INCOMPLETE') ? n.lladdr : undefined;
    } catch {
      return undefined;
    }
  };
  const known = await lookup();
  if (known) return known;
  await o.run(o.nodeProgram ?? process.execPath, ['-e', PROBE_SCRIPT, peer], { timeoutMs: 5_000 });
  for (let i = 0; i < attempts; i++) {
    await new Promise((r) => setTimeout(r, RETRY_MS));
    const l = await lookup();
    if (l) return l;
  }
  return undefined;
}
