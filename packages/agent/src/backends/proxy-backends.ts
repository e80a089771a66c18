// The port between the backend manager (when to look, when to apply, what to report) and what
// one proxy kind does (haproxy: its runtime API; nginx: its dump, managed includes, reloads).
import type { BackendServer, ConfigFileDigest, DesiredBackends, ServerIntent } from '@lbha/shared';

/** What the coordinator wants of the proxy's backends, as of one desired state. */
export interface BackendSettings {
  /** The desired-state version these settings come from (0: none yet). */
  readonly version: number;
  readonly backends: DesiredBackends;
  /** By "pool/server". */
  readonly intents: ReadonlyMap<string, ServerIntent>;
}

/** The proxy's configuration as compared between nodes. */
export interface ConfigDigest {
  readonly digest: string;
  readonly files: readonly ConfigFileDigest[];
}

export interface BackendObservation {
  readonly servers: readonly BackendServer[];
  /** undefined when the configuration could not be read. */
  readonly config: ConfigDigest | undefined;
  /** Why something could not be read; '' when all could. */
  readonly error: string;
  /** How long the proxy may take to send to its backends again once they answer (BackendReport.readmitMs); 0 when none or not known. */
  readonly readmitMs: number;
}

export type ApplyOutcome = { readonly ok: true; readonly message: string } | { readonly ok: false; readonly error: string };

export interface ProxyBackends {
  observe(settings: BackendSettings): Promise<BackendObservation>;
  /** Brings the proxy to the settings' intents; says what it did or why it could not. */
  apply(settings: BackendSettings): Promise<ApplyOutcome>;
}

/** Whether every intent is what the proxy runs (the manager applies again when not). */
export function intentsMet(servers: readonly BackendServer[], intents: Iterable<ServerIntent>): boolean {
  for (const i of intents) {
    const s = servers.find((x) => x.pool === i.pool && x.server === i.server);
    // A server the proxy no longer runs is only missed if it was to be kept out or reweighted.
    if (!s) {
      if (i.admin === 'ready' && i.weight === undefined) continue;
      return false;
    }
    if (s.admin !== i.admin) return false;
    if (i.weight !== undefined && i.weight > 0 && s.weight !== i.weight) return false;
  }
  return true;
}
