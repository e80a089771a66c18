// SIGHUP for the coordinator: what it re-reads and applies without a restart. The TLS files are
// re-read by CoordinatorAuth on the same signal (and when they change).
import { reloadConfig, setLogLevel, type Logger, type ReloadOutcome } from '@lbha/shared';
import { loadCoordinatorConfig, type CoordinatorConfig } from './coordinator-config.js';
import type { CoordinatorServer } from './server.js';

/** The coordinator settings a SIGHUP applies; every other change waits for a restart. */
export const COORDINATOR_RELOADABLE: readonly string[] = ['log.level', 'auth', 'webhooks'];

export function reloadCoordinator(current: CoordinatorConfig, target: { file: string; logger: Logger; server: CoordinatorServer }, why: string): ReloadOutcome<CoordinatorConfig> {
  return reloadConfig(current, {
    file: target.file,
    load: loadCoordinatorConfig,
    reloadable: COORDINATOR_RELOADABLE,
    logger: target.logger,
    apply: (next, applied) => {
      if (applied.includes('log.level')) setLogLevel(target.logger, next.log.level);
      if (applied.includes('auth')) target.server.auth.authenticator.replace(next.auth);
      if (applied.includes('webhooks')) target.server.webhooks.replace(next.webhooks);
    },
  }, why);
}
