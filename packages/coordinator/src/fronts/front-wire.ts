// What a coordinator and its front processes say to each other over the IPC channel of
// child_process.fork (docs/design/fronts.md). The coordinator sends `start` once, then one
// `listen` per gRPC address with the bound socket attached; the front answers each `listen`
// with `listening`, and `stop` ends it (as does the channel closing: the coordinator is gone).
import type { TlsConfig } from '@lbha/shared';
import type { ConnectionStats } from '../limits/connection-limiter.js';
import type { HandshakeQueueStats } from '../limits/handshake-queue.js';
import type { HandshakeTotals } from '../metrics/handshake-timings.js';

export interface FrontStart {
  readonly type: 'start';
  /** The front's name in logs and in what it forwards (`<coordinator id>/front-<n>`). */
  readonly id: string;
  /** The coordinator's unix socket for its fronts (grpc-js target, `unix:<path>`). */
  readonly coordinator: string;
  readonly tls: TlsConfig;
  /** This front's share of limits.connections; limits.connectionsPerAddress as is. */
  readonly connections: number;
  readonly connectionsPerAddress: number;
  /** This front's share of limits.tlsHandshakes. */
  readonly handshakes: number;
  readonly streamsPerConnection: number;
  readonly maxMessageBytes: number;
  /** How often the front reports its agents' liveness (half of heartbeat.interval). */
  readonly livenessIntervalMs: number;
  /** An agent connection that reads nothing this long is closed (connection-liveness.ts). */
  readonly deadConnectionMs: number;
  readonly logLevel: string;
}

export interface FrontListen {
  readonly type: 'listen';
  readonly address: string;
}

export interface FrontStop {
  readonly type: 'stop';
}

export type ToFront = FrontStart | FrontListen | FrontStop;

/**
 * What a front's listener counted since the front started (COUNTS_INTERVAL_MS apart): the
 * coordinator adds it to its own in /metrics, so the agents' connections and handshakes show
 * there whichever process took them.
 */
export interface FrontCounts {
  readonly type: 'counts';
  /** Open now; refused so far. */
  readonly connections: ConnectionStats;
  /** Running and waiting now; started and slots given back so far. */
  readonly handshakes: HandshakeQueueStats;
  /** How the handshakes so far ended. */
  readonly outcomes: HandshakeTotals;
}

/** How often a front sends its counts. */
export const COUNTS_INTERVAL_MS = 1000;

export type FromFront = { readonly type: 'listening'; readonly address: string } | { readonly type: 'failed'; readonly reason: string } | FrontCounts;
