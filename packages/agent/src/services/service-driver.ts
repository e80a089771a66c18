// The one narrow port behind which nginx, haproxy and keepalived are driven, whichever
// supervisor (direct child process or systemd) runs them.
import type { ServiceKind, ServiceStats } from '@lbha/shared';

export type SupervisorKind = 'direct' | 'systemd';

/** Outcome of the daemon's own config test (`nginx -t`, `haproxy -c`, `keepalived -t`). */
export type ValidationResult = { readonly ok: true; readonly output: string } | { readonly ok: false; readonly output: string };

/** Outcome of start/stop/reload/restart: what happened, in words fit for an operator. */
export type ServiceOutcome = { readonly ok: true; readonly message: string } | { readonly ok: false; readonly message: string };

export interface ProcessInfo {
  readonly running: boolean;
  /** Main (master) process id, 0 when not running. */
  readonly pid: number;
  /** When the current process was started or adopted (epoch ms), 0 when not running. */
  readonly sinceMs: number;
}

export interface ExitInfo {
  readonly pid: number;
  readonly code: number | null;
  readonly signal: string | null;
  /** The last lines the daemon wrote, when known. */
  readonly logTail: string;
}

export interface ServiceDriver {
  readonly name: string;
  readonly kind: ServiceKind;
  readonly supervisor: SupervisorKind;
  validate(): Promise<ValidationResult>;
  /** Takes over an instance that is already running (after an agent restart); true if found. */
  adopt(): Promise<boolean>;
  start(): Promise<ServiceOutcome>;
  stop(): Promise<ServiceOutcome>;
  /** Validates first; never reloads a config that fails its test. */
  reload(): Promise<ServiceOutcome>;
  /** Validates first; never stops a running daemon for a config that would not start. */
  restart(): Promise<ServiceOutcome>;
  status(): ProcessInfo;
  stats(): Promise<ServiceStats | undefined>;
  /** Exits nobody asked for (a crash, a kill from outside). */
  onExit(listener: (info: ExitInfo) => void): () => void;
  /** Stops watching; the daemon keeps running. */
  close(): void;
}

export function ok(message: string): ServiceOutcome {
  return { ok: true, message };
}

export function failed(message: string): ServiceOutcome {
  return { ok: false, message };
}
