// The port a drill measures through: probes of a VIP from outside its nodes, each on a fresh
// connection, for as long as a session runs. The coordinator probes itself (network-prober.ts)
// or runs a configured command that does it from elsewhere (command-prober.ts);
// docs/design/drill.md says why and where.
import type { ProbeResult } from '../operations/drill-figures.js';

/** Every probe of a session, and what kept the prober from probing ('' when nothing did). */
export interface ProbeOutcome {
  readonly results: readonly ProbeResult[];
  readonly problem: string;
}

export interface ProbeSession {
  /** Resolves once the first probe has ended (a command takes a moment to start), or after `maxMs`. */
  ready(maxMs: number): Promise<void>;
  /** Stops sending, waits for the probes in flight (at most their timeout) and returns every result. */
  stop(): Promise<ProbeOutcome>;
}

export interface VipProber {
  /** Starts probing `address` (the VIP's address) at the configured port and interval. */
  start(address: string): ProbeSession;
  /** Where the probes come from, for messages ("the coordinator", "ip netns exec ..."). */
  readonly where: string;
}

/** What a probe asks and how often: the coordinator configuration's drill.probe, compiled. */
export interface ProbeSettings {
  readonly mode: 'http' | 'tcp';
  readonly port: number;
  readonly path: string;
  /** HTTP Host header; '' sends the VIP's address. */
  readonly host: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
}
