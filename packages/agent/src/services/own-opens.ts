// The agent's own connections to a listener of its network namespace, as the hung-proxy watch's
// gate on /proc/net/snmp must see them. The watch reads the proxy's accept queues from the head
// of /proc/net/tcp (listen-queue.ts) only after a connection completed its handshake somewhere
// in the namespace (Tcp PassiveOpens moved), since only such a connection can fill a queue. An
// HTTP check of the proxy's own status listener on a loopback address is such a connection: at
// 10 Hz it moved the counter ten times a second, and each move cost two reads of the socket
// tables (the sample after a move reads once more), the largest single part of the agent's CPU
// (the kernel's walk of its established hash, docs/benchmarks.md, the fourteenth round).
//
// A connection the agent opened to a loopback address, whose peer then sent bytes, was taken
// off its accept queue: a server writes only on a connection it accepted. The watch subtracts
// those from the counter. It may subtract only connections whose handshake came after its last
// read of the queues (that read already saw any earlier one, in the queue or not); a connection
// started after that read is surely one of them, so only those are counted: one started before
// a read is not, and the counter it moved reads as a new handshake, as before. So the counter
// less these answers moves exactly when some connection not yet taken off its queue completed
// its handshake, and a queue is never taken as empty where it was not.
//
// Only the host's own JavaScript moves these counters, between the watch's samples, never
// during one.

/** Reads of the socket tables so far (the watch's, by any watcher). */
let tableReads = 0;
/** Connections counted as answered so far. */
let answered = 0;

/** Not a connection that is counted. */
export const NOT_OWN = -1;

/**
 * A connection to `host` (an IP address of `family` 4 or 6) is being opened: the token to give
 * ownOpenAnswered once its peer sent bytes, or NOT_OWN where it is not to a loopback address.
 */
export function ownOpenStarted(host: string, family: number): number {
  if (family === 4 ? host.startsWith('127.') : family === 6 && host === '::1') return tableReads;
  return NOT_OWN;
}

/** The peer of a connection opened with `token` sent bytes (call once per connection). */
export function ownOpenAnswered(token: number): void {
  if (token !== NOT_OWN && token === tableReads) answered++;
}

/** The socket tables are being read: connections started before now are not counted. */
export function socketTablesRead(): void {
  tableReads++;
}

/** How many of the agent's own connections were counted as answered so far. */
export function ownOpensAnswered(): number {
  return answered;
}
