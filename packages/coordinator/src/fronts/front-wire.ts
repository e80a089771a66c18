// What a coordinator and its front processes say to each other over the IPC channel of
// child_process.fork (docs/design/fronts.md). The coordinator sends `start` once, then one
// `listen` per gRPC address with the bound socket attached; the front answers each `listen`
// with `listening`, and `stop` ends it (as does the channel closing: the coordinator is gone).
import type { TlsConfig } from '@lbha/shared';

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

export type FromFront = { readonly type: 'listening'; readonly address: string } | { readonly type: 'failed'; readonly reason: string };
