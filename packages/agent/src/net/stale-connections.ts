// A node that takes a VIP (back) may still have sockets on it that belong to no live connection,
// and whose 4-tuple a client's new connection can carry: clients reuse source ports within
// seconds (a busy client cycles through its ephemeral ports). While the VIP was on the peer, a
// client opened a connection to the peer from a port this node still has a socket for; once the
// VIP is here its packets reach that socket, whose sequence numbers are not theirs, and Linux
// answers an out-of-window segment with an ACK, never a reset. The request is neither answered
// nor refused: the client waits for as long as it keeps retransmitting
// (docs/design/unplanned-failover.md, "keepalived killed: the stale socket"). Two kinds:
//
// - TIME-WAIT: connections this node's proxy closed first (a fresh-connection client's, every
//   request), kept 60 s. They protect nothing a client needs once the VIP has been elsewhere,
//   so they are ended (sock_diag SOCK_DESTROY, `ss -K`) whenever the node becomes master.
// - established connections whose client was reset by the peer at its next packet while the VIP
//   was there; this node never heard. After keepalived died (the node lost the VIP while its
//   proxy ran on), those that received nothing since are ended: the stale ones, and any whose
//   client was idle throughout, whose next request gets a reset that an HTTP client resends on a
//   new connection. A connection whose client kept reaching this node has received since, and stays.
import type { Logger } from '@lbha/shared';
import type { CommandRunner } from '../util/run-command.js';
import { ssAddress, ssCount } from './handover-connections.js';

/** One established connection on the VIP: the client's address and port, and how long since it last sent anything. */
export interface QuietConnection {
  readonly peer: string;
  readonly quietMs: number;
}

/** `ss` arguments listing the established TCP connections on `vip` with their timers (`-i`). */
export function establishedArgs(vip: string): string[] {
  return ['-Htni', 'state', 'established', 'src', ssAddress(vip)];
}

/**
 * Parses `ss -Htni` output: a socket line (`Recv-Q Send-Q local peer`) followed by an indented
 * line of details with `lastack:MS` (time since the last segment with an ACK from the peer). A
 * socket without `lastack` is left out (nothing to judge it by). Pure.
 */
export function parseEstablished(text: string): QuietConnection[] {
  const out: QuietConnection[] = [];
  let peer: string | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (!/^\s/.test(line)) {
      const cols = line.trim().split(/\s+/);
      peer = cols[3];
      continue;
    }
    const m = /\blastack:(\d+)/.exec(line);
    if (peer !== undefined && m) out.push({ peer, quietMs: Number(m[1]) });
    peer = undefined;
  }
  return out;
}

/** `ss` arguments that end every TIME-WAIT socket on `vip`. */
export function timeWaitArgs(vip: string): string[] {
  return ['-K', '-Htn', 'state', 'time-wait', 'src', ssAddress(vip)];
}

/** `ss` arguments that end the established connections on `vip` from exactly these peers. */
export function destroyArgs(vip: string, peers: readonly string[]): string[] {
  const filter = peers.flatMap((p, i) => [...(i > 0 ? ['or'] : []), 'dst', p]);
  return ['-K', '-Htn', 'state', 'established', 'src', ssAddress(vip), '(', ...filter, ')'];
}

/** At most this many peers per `ss` call (a filter is one argument list). */
const PEERS_PER_CALL = 256;

export interface StaleConnectionsOptions {
  readonly ssProgram: string;
  readonly run: CommandRunner;
  readonly logger: Logger;
}

export class StaleConnections {
  constructor(private readonly o: StaleConnectionsOptions) {}

  /**
   * The node holds `vip` now: ends its TIME-WAIT sockets on it and, when it lost the VIP `awayMs`
   * before (keepalived died), the established connections that received nothing for that long.
   * Returns how many `ss` ended.
   */
  async regained(instance: string, vip: string, awayMs: number | undefined): Promise<number> {
    const tw = await this.o.run(this.o.ssProgram, timeWaitArgs(vip), { timeoutMs: 5_000 });
    if (tw.exitCode !== 0) this.failed(instance, vip, tw.spawnError ?? tw.output);
    const waits = tw.exitCode === 0 ? ssCount(tw.stdout) : 0;
    const quiet = awayMs === undefined ? 0 : await this.quiet(instance, vip, awayMs);
    if (waits + quiet > 0) {
      this.o.logger.info(
        { event: 'failover.stale_reset', instance, vip, timeWait: waits, quiet },
        `${instance}: master of ${vip}; ended ${waits} TIME-WAIT sockets on it${awayMs === undefined ? '' : ` and ${quiet} connections that received nothing in the ${awayMs} ms it was away`}`,
      );
    }
    return waits + quiet;
  }

  private async quiet(instance: string, vip: string, awayMs: number): Promise<number> {
    const r = await this.o.run(this.o.ssProgram, establishedArgs(vip), { timeoutMs: 5_000 });
    if (r.exitCode !== 0) {
      this.failed(instance, vip, r.spawnError ?? r.output);
      return 0;
    }
    const stale = parseEstablished(r.stdout).filter((c) => c.quietMs >= awayMs).map((c) => c.peer);
    let ended = 0;
    for (let i = 0; i < stale.length; i += PEERS_PER_CALL) {
      const k = await this.o.run(this.o.ssProgram, destroyArgs(vip, stale.slice(i, i + PEERS_PER_CALL)), { timeoutMs: 5_000 });
      if (k.exitCode === 0) ended += ssCount(k.stdout);
      else this.failed(instance, vip, k.spawnError ?? k.output);
    }
    return ended;
  }

  private failed(instance: string, vip: string, error: string): void {
    this.o.logger.warn({ event: 'failover.stale_failed', instance, vip, error }, `cannot end the stale sockets on ${vip}: ${error}`);
  }
}
