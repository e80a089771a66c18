/** Who this coordinator is, as other coordinators reach it. Stored as the leader key's value. */
export interface LeaderInfo {
  readonly id: string;
  /** gRPC address (host:port) for relayed agent streams and forwarded API calls. */
  readonly grpc: string;
  /** HTTP address (host:port), empty when the HTTP API is off. */
  readonly http: string;
}

/**
 * Proof of leadership for conditional etcd writes: the leader key, its create revision (the
 * term: unique and increasing across leaders) and the lease it hangs on. A write conditioned on
 * the key's create revision fails once another coordinator has taken over.
 */
export interface Fence {
  readonly key: Buffer;
  readonly term: string;
  readonly leaseId: string;
}

export type LeadershipEvent =
  | { readonly type: 'elected'; readonly term: number }
  | { readonly type: 'deposed'; readonly term: number; readonly reason: string }
  /** The leader this coordinator sees changed (itself included); undefined: no leader. */
  | { readonly type: 'leader-changed'; readonly leader: LeaderInfo | undefined; readonly term: number };

/**
 * Whether this coordinator may act (compute placement, push desired state, run operations,
 * write the store). `isLeader()` is synchronous and cheap: call it right before every action.
 */
export interface Leadership {
  isLeader(): boolean;
  /** The current leader as last seen, possibly this coordinator; undefined when there is none. */
  leader(): LeaderInfo | undefined;
  /** Fence for conditional writes; undefined when not the leader. */
  fence(): Fence | undefined;
  subscribe(listener: (e: LeadershipEvent) => void): () => void;
}
