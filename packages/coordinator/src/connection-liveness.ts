// Agent liveness read from the agents' connections instead of from Heartbeat messages. Every
// heartbeat message costs the coordinator a TLS record, an HTTP/2 frame, a gRPC decode and a
// call into JavaScript; an HTTP/2 PING costs only the first two, in C++ (node's HTTP/2 core calls
// JavaScript for a received PING only when the session has 'ping' listeners, and grpc-js adds
// none). So an agent that was told so (Welcome.liveness_from_connection) pings instead of
// heartbeating, and once per sweep the coordinator reads how many bytes each agent's socket has
// read (a counter the kernel socket's stream handle keeps in C++) and touches the agents whose
// count grew. One sweep over the fleet replaces a JavaScript call per agent per interval.
//
// The same sweep closes a connection that has read nothing for `deadAfterMs`: its agent died
// or its path did, without the TCP connection closing. The server's keepalive PINGs find those
// too, at the price of a PING each way and two timers in grpc-js per connection and interval;
// an agent's connection needs none of that, since it carries the agent's PINGs anyway.

/** A watched connection: its `bytesRead`, and a way to close it (a net.Socket is one). */
export interface WatchedConnection {
  readonly bytesRead: number;
  destroy(): void;
}

/**
 * How long a watched connection may read nothing before it is closed, at least: what the
 * server's keepalive at 10 s took to find a dead peer at worst (a PING every 10 s, 5 s for its
 * answer).
 */
export const DEAD_CONNECTION_MS = 15_000;

/**
 * How long an agent's connection may read nothing before it is closed: twice the time that
 * makes its node stale (a live agent PINGs every heartbeat interval, which is shorter), and never
 * less than DEAD_CONNECTION_MS.
 */
export function deadConnectionMs(staleAfterMs: number): number {
  return Math.max(DEAD_CONNECTION_MS, 2 * staleAfterMs);
}

/** The coordinator's heartbeat settings (coordinator-config.ts); `ping` is optional in configs built in code. */
export interface HeartbeatSettings {
  readonly interval: number;
  readonly staleAfter: number;
  readonly ping?: number | undefined;
}

/**
 * How often an agent whose liveness comes from its connection PINGs (told in its Welcome), when
 * the config does not say: as rarely as leaves two PINGs in each stale window (staleAfter / 2)
 * and a relaying coordinator one heartbeat interval to report the bytes
 * (staleAfter - interval), but never less often than every heartbeat interval. A PING is what
 * each agent costs the coordinator in steady state (a socket read and write, a TLS record each
 * way and nghttp2's answer, about 60 us), so this halves what the fleet costs it while a dead
 * host, a cut path or a stuck agent still shows stale within staleAfter; what shrinks is the
 * slack for a PING that is late (staleAfter - ping instead of staleAfter - interval). With the
 * defaults (1 s, 3.5 s): 1.75 s.
 */
export function pingIntervalMs(h: HeartbeatSettings): number {
  if (h.ping !== undefined) return h.ping;
  return Math.max(h.interval, Math.min(Math.floor(h.staleAfter / 2), h.staleAfter - h.interval));
}

interface Watched {
  readonly node: string;
  readonly sessionId: string;
  readonly connection: WatchedConnection;
  last: number;
  /** When the sweep last saw the count grow (or first saw the connection). */
  grewAt: number | undefined;
}

export class ConnectionLiveness {
  private readonly watched = new Map<string, Watched>();

  /** `deadAfterMs`: a watched connection that reads nothing for this long is closed. */
  constructor(private readonly deadAfterMs = DEAD_CONNECTION_MS) {}

  /** Sessions watched now. */
  get size(): number {
    return this.watched.size;
  }

  /** Takes the liveness of `sessionId` from `connection` from now on. */
  watch(node: string, sessionId: string, connection: WatchedConnection): void {
    this.watched.set(sessionId, { node, sessionId, connection, last: connection.bytesRead, grewAt: undefined });
  }

  unwatch(sessionId: string): void {
    this.watched.delete(sessionId);
  }

  /**
   * Calls `touch` for every watched session whose connection read bytes since the previous
   * sweep (or since it was watched); returns how many that were. A connection that has read
   * nothing for `deadAfterMs` (counted from the first sweep that saw it) is closed and no longer
   * watched, and `closed` is called for its session; the session's stream then ends as for any
   * closed connection.
   */
  sweep(now: number, touch: (node: string, sessionId: string) => void, closed?: (node: string, sessionId: string) => void): number {
    let touched = 0;
    for (const w of this.watched.values()) {
      const n = w.connection.bytesRead;
      if (n !== w.last) {
        w.last = n;
        w.grewAt = now;
        touched++;
        touch(w.node, w.sessionId);
      } else if (w.grewAt === undefined) {
        w.grewAt = now;
      } else if (now - w.grewAt >= this.deadAfterMs) {
        this.watched.delete(w.sessionId);
        w.connection.destroy();
        closed?.(w.node, w.sessionId);
      }
    }
    return touched;
  }
}
