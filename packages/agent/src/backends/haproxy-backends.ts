// haproxy's side of the backend pool: servers from the runtime API, changes through it, the
// configuration file's statements for the drift digest, and how long haproxy may take to send to
// its servers again once they answer (its checks: haproxy-readmission.ts). haproxy forgets runtime changes when it
// restarts or reloads; the manager applies them again, and the server state file (when
// configured: `server-state-file` + `load-server-state-from-file`) makes haproxy start with them.
import type { Logger } from '@lbha/shared';
import { writeFileAtomic } from '../util/atomic-write.js';
import { canonicalHaproxy, digestFiles } from './config-digest.js';
import { haproxyCommandsFor, haproxyServers, parseServersState, parseStatServers, runtimeError, type HaproxyServerState } from './haproxy-runtime.js';
import { haproxyCheckIntervals, haproxyReadmitMs, type CheckIntervals } from './haproxy-readmission.js';
import type { ApplyOutcome, BackendObservation, BackendSettings, ProxyBackends } from './proxy-backends.js';
import { StatCache } from './stat-cache.js';

/** Sends one command to the stats socket; undefined when it did not answer. */
export type RuntimeQuery = (command: string) => Promise<string | undefined>;

export interface HaproxyBackendsOptions {
  readonly node: string;
  readonly configFile: string;
  /** '' when the agent has no stats socket: nothing can be read or changed. */
  readonly statsSocket: string;
  /** Where `show servers state` is written after every change ('' to not write it). */
  readonly serverStateFile: string;
  readonly query: RuntimeQuery;
  readonly logger: Logger;
}

/** What is read from haproxy.cfg, once per change of the file: one read and stat serve both. */
interface ParsedConfig {
  /** The drift digest's statements, without those the spec's drift settings ignore. */
  readonly lines: string[];
  /** The servers' check intervals, from every statement: they are what haproxy runs, whatever the digest compares. */
  readonly intervals: ReadonlyMap<string, CheckIntervals>;
}

function parseConfig(text: string, ignore: ReadonlySet<string>): ParsedConfig {
  const all = canonicalHaproxy(text, new Set());
  return { lines: ignore.size === 0 ? all : canonicalHaproxy(text, ignore), intervals: haproxyCheckIntervals(all) };
}

export class HaproxyBackends implements ProxyBackends {
  private configs: StatCache<ParsedConfig>;
  private ignoreKey = '';

  constructor(private readonly o: HaproxyBackendsOptions) {
    this.configs = new StatCache((text) => parseConfig(text, new Set()));
  }

  async observe(s: BackendSettings): Promise<BackendObservation> {
    const parsed = await this.parsed(s);
    const config = parsed === undefined ? undefined : digestFiles([{ path: this.o.configFile, lines: parsed.lines }], this.o.node);
    if (!this.o.statsSocket) return { servers: [], config, error: 'no statsSocket configured for haproxy: its backends cannot be read', readmitMs: 0 };
    const state = await this.o.query('show servers state');
    const stat = await this.o.query('show stat');
    if (state === undefined || stat === undefined) return { servers: [], config, error: `haproxy's stats socket ${this.o.statsSocket} does not answer`, readmitMs: 0 };
    return { servers: haproxyServers(parseServersState(state), parseStatServers(stat)), config, error: '', readmitMs: haproxyReadmitMs(stat, parsed?.intervals ?? new Map()) };
  }

  async apply(s: BackendSettings): Promise<ApplyOutcome> {
    if (!this.o.statsSocket) return { ok: false, error: 'no statsSocket configured for haproxy' };
    const states = await this.states();
    if (!states) return { ok: false, error: `haproxy's stats socket ${this.o.statsSocket} does not answer` };
    const done: string[] = [];
    const errors: string[] = [];
    for (const intent of s.intents.values()) {
      const st = states.find((x) => x.pool === intent.pool && x.server === intent.server);
      if (!st) {
        // Gone from haproxy.cfg: nothing to keep ready; one to keep out cannot be.
        if (intent.admin !== 'ready' || intent.weight !== undefined) errors.push(`haproxy runs no server ${intent.pool}/${intent.server}`);
        continue;
      }
      for (const cmd of haproxyCommandsFor(st, intent.admin, intent.weight)) {
        const err = runtimeError(await this.o.query(cmd));
        if (err) errors.push(`${cmd}: ${err}`);
        else done.push(cmd);
      }
    }
    if (done.length > 0) await this.saveState();
    if (errors.length > 0) return { ok: false, error: errors.join('; ') };
    return { ok: true, message: done.length > 0 ? done.join('; ') : 'nothing to change' };
  }

  private async states(): Promise<HaproxyServerState[] | undefined> {
    const text = await this.o.query('show servers state');
    return text === undefined ? undefined : parseServersState(text);
  }

  /** Keeps haproxy's state file current, so a restart or reload starts with the wanted states. */
  private async saveState(): Promise<void> {
    if (!this.o.serverStateFile) return;
    const text = await this.o.query('show servers state');
    if (text === undefined || !/^\d+\n#/.test(text)) return;
    await writeFileAtomic(this.o.serverStateFile, text.endsWith('\n') ? text : `${text}\n`).catch((err: Error) =>
      this.o.logger.warn({ event: 'backends.state_file_failed', file: this.o.serverStateFile, err: err.message }, `cannot write haproxy's server state file: ${err.message}`),
    );
  }

  private async parsed(s: BackendSettings): Promise<ParsedConfig | undefined> {
    const ignore = new Set(s.backends.driftIgnore);
    const key = [...ignore].sort().join('\n');
    if (key !== this.ignoreKey) {
      this.ignoreKey = key;
      this.configs = new StatCache((text) => parseConfig(text, ignore));
    }
    return this.configs.read(this.o.configFile);
  }
}
