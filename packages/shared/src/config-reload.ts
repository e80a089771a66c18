// SIGHUP for a daemon: read the configuration file again, apply what can change safely, and say
// in one log line what changed and what keeps its old value until a restart. A file that does
// not validate changes nothing.
import { configChanges, withApplied } from './config-changes.js';
import { ConfigError } from './errors.js';
import type { Logger } from './logger.js';

export interface ConfigReload<T extends object> {
  readonly file: string;
  readonly load: (file: string) => T;
  /** Top-level keys or `key.sub` paths the daemon applies without a restart. */
  readonly reloadable: readonly string[];
  readonly logger: Logger;
  /** Applies the changed reloadable settings (`applied` lists them); may throw to refuse. */
  readonly apply: (next: T, applied: readonly string[]) => void;
}

export type ReloadOutcome<T> =
  | { readonly kind: 'reloaded'; readonly applied: readonly string[]; readonly needRestart: readonly string[]; readonly config: T }
  | { readonly kind: 'refused'; readonly reason: string };

/** Reads `r.file` again and applies it over `current`; logs `config.reloaded` or `config.reload_refused`. */
export function reloadConfig<T extends object>(current: T, r: ConfigReload<T>, why: string): ReloadOutcome<T> {
  let next: T;
  try {
    next = r.load(r.file);
  } catch (err) {
    const reason = err instanceof ConfigError ? err.message.split('\n').join('; ') : (err as Error).message;
    r.logger.error({ event: 'config.reload_refused', why, file: r.file, reason }, `${why}: ${r.file} not reloaded, nothing changed: ${reason}`);
    return { kind: 'refused', reason };
  }
  const { applied, needRestart } = configChanges(current, next, r.reloadable);
  try {
    r.apply(next, applied);
  } catch (err) {
    const reason = (err as Error).message;
    r.logger.error({ event: 'config.reload_refused', why, file: r.file, reason }, `${why}: ${r.file} not reloaded: ${reason}`);
    return { kind: 'refused', reason };
  }
  const what = applied.length > 0 ? `applied ${applied.join(', ')}` : 'no reloadable setting changed';
  const kept = needRestart.length > 0 ? `; needs a restart to take effect: ${needRestart.join(', ')}` : '';
  r.logger.info({ event: 'config.reloaded', why, file: r.file, applied, needRestart }, `${why}: reloaded ${r.file}: ${what}${kept}`);
  return { kind: 'reloaded', applied, needRestart, config: withApplied(current, next, applied) };
}
