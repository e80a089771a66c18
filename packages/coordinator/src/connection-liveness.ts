// Agent liveness read from the agents' connections instead of from Heartbeat messages. Every
// heartbeat message costs the coordinator a TLS record, an HTTP/2 frame, a gRPC decode and a
// call into JavaScript; an HTTP/2 PING costs only the first two, in C++ (node's HTTP/2 core calls
// JavaScript for a received PING only when the session has 'ping' listeners, and grpc-js adds
// none). So an agent that was told so (Welcome.liveness_from_connection) pings instead of
// heartbeating, and once per sweep the coordinator reads how many bytes each agent's socket has
// read (a counter the kernel socket's stream handle keeps in C++) and touches the agents whose
// count grew. One sweep over the fleet replaces a JavaScript call per agent per interval.

/** What is read of a connection: its `bytesRead` (a net.Socket is one). */
export interface ByteCounter {
  readonly bytesRead: number;
}

interface Watched {
  readonly node: string;
  readonly sessionId: string;
  readonly counter: ByteCounter;
  last: number;
}

export class ConnectionLiveness {
  private readonly watched = new Map<string, Watched>();

  /** Sessions watched now. */
  get size(): number {
    return this.watched.size;
  }

  /** Takes the liveness of `sessionId` from `counter` from now on. */
  watch(node: string, sessionId: string, counter: ByteCounter): void {
    this.watched.set(sessionId, { node, sessionId, counter, last: counter.bytesRead });
  }

  unwatch(sessionId: string): void {
    this.watched.delete(sessionId);
  }

  /**
   * Calls `touch` for every watched session whose connection read bytes since the previous
   * sweep (or since it was watched); returns how many that were.
   */
  sweep(touch: (node: string, sessionId: string) => void): number {
    let touched = 0;
    for (const w of this.watched.values()) {
      const n = w.counter.bytesRead;
      if (n === w.last) continue;
      w.last = n;
      touched++;
      touch(w.node, w.sessionId);
    }
    return touched;
  }
}
