// What differs between nginx, haproxy and keepalived: how to run each in the foreground,
// how to test its config, which signals reload and stop it. Everything else is shared.
import type { ServiceKind } from '@lbha/shared';
import { describeOutcome, type CommandRunner } from '../util/run-command.js';
import type { ValidationResult } from './service-driver.js';

export interface DaemonSpec {
  readonly kind: ServiceKind;
  readonly binary: string;
  /** Arguments that keep the daemon in the foreground (direct supervisor). */
  readonly foregroundArgs: readonly string[];
  /** Arguments of the config test; exit 0 = valid. */
  readonly validateArgs: readonly string[];
  readonly reloadSignal: NodeJS.Signals;
  /** Graceful stop; SIGKILL follows after the stop timeout. */
  readonly stopSignal: NodeJS.Signals;
  /**
   * The daemon's own processes may outlive it and finish what they serve: when it dies, they get
   * `stopSignal` instead of SIGKILL (nginx's workers). Unset: killed with it.
   */
  readonly orphansFinish?: boolean;
  /** The daemon's own pid files: removed before a start when their process is gone. */
  readonly pidFiles: readonly string[];
}

export interface NginxPaths {
  readonly binary: string;
  readonly configFile: string;
  /** nginx -p prefix, '' for the compiled-in default. */
  readonly prefix: string;
  /** nginx -e FILE (the log used before the config is read), '' for the default. */
  readonly errorLog: string;
}

function nginxCommonArgs(p: NginxPaths): string[] {
  return [...(p.prefix ? ['-p', p.prefix] : []), ...(p.errorLog ? ['-e', p.errorLog] : []), '-c', p.configFile];
}

/** `nginx -T`: tests the configuration and prints every file of it. */
export function nginxDumpArgs(p: NginxPaths): string[] {
  return ['-T', ...nginxCommonArgs(p)];
}

export function nginxSpec(p: NginxPaths): DaemonSpec {
  const common = nginxCommonArgs(p);
  return {
    kind: 'nginx',
    binary: p.binary,
    foregroundArgs: [...common, '-g', 'daemon off;'],
    validateArgs: ['-t', ...common],
    reloadSignal: 'SIGHUP',
    // Graceful: finish in-flight requests (a drained node has none left).
    stopSignal: 'SIGQUIT',
    // A worker whose master died serves on; QUIT closes its listeners at once and lets it finish.
    orphansFinish: true,
    pidFiles: [],
  };
}

export interface HaproxyPaths {
  readonly binary: string;
  readonly configFile: string;
}

export function haproxySpec(p: HaproxyPaths): DaemonSpec {
  return {
    kind: 'haproxy',
    binary: p.binary,
    // Master-worker in the foreground: SIGUSR2 to the master reloads without dropping sockets.
    foregroundArgs: ['-W', '-db', '-f', p.configFile],
    validateArgs: ['-c', '-f', p.configFile],
    reloadSignal: 'SIGUSR2',
    stopSignal: 'SIGUSR1',
    // Not orphansFinish: left to finish, haproxy stopped on the master (seed 2's 003) had the
    // peer answer a probe after the restart in 1 of 3 lab runs, against 0 of 3 killed.
    pidFiles: [],
  };
}

export interface KeepalivedPaths {
  readonly binary: string;
  readonly configFile: string;
  readonly pidFile: string;
  readonly vrrpPidFile: string;
}

export function keepalivedSpec(p: KeepalivedPaths): DaemonSpec {
  return {
    kind: 'keepalived',
    binary: p.binary,
    // Own pid files per instance, so several keepalived run on one host (one per namespace).
    foregroundArgs: ['--dont-fork', '--log-console', '--log-detail', '--no-syslog', '--vrrp', '-f', p.configFile, '-p', p.pidFile, '-r', p.vrrpPidFile],
    validateArgs: ['-t', '-f', p.configFile],
    reloadSignal: 'SIGHUP',
    stopSignal: 'SIGTERM',
    // A killed keepalived leaves them behind, and a new one refuses to start ("daemon is already
    // running") while the old VRRP process is not yet reaped.
    pidFiles: [p.pidFile, p.vrrpPidFile],
  };
}

/** Runs the daemon's own config test (`nginx -t`, `haproxy -c`, `keepalived -t`); both supervisors use it. */
export async function validateDaemonConfig(run: CommandRunner, spec: DaemonSpec): Promise<ValidationResult> {
  const r = await run(spec.binary, spec.validateArgs, { timeoutMs: 30_000 });
  return { ok: r.exitCode === 0 && !r.timedOut, output: describeOutcome(r) };
}
