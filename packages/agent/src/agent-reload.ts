// SIGHUP for the agent: what it re-reads and applies without a restart. The checks and their
// thresholds come from the coordinator (the cluster spec) and change with `lbha spec apply`.
import { reloadConfig, setLogLevel, type CertificateSource, type Logger, type ReloadOutcome } from '@lbha/shared';
import type { AgentConfig } from './agent-config.js';
import { readAgentConfigLater } from './agent-config-reader.js';

/** The agent settings a SIGHUP applies; every other change waits for a restart. */
export const AGENT_RELOADABLE: readonly string[] = ['log.level'];

export interface AgentReloadTarget {
  readonly file: string;
  /** The root logger (made by createLogger): its level and every child's follow log.level. */
  readonly logger: Logger;
  readonly certificates: CertificateSource | undefined;
}

/** Reads the file in a process of its own (agent-config-reader.ts) while the agent keeps running. */
export async function reloadAgent(current: AgentConfig, target: AgentReloadTarget, why: string): Promise<ReloadOutcome<AgentConfig>> {
  const read = await readAgentConfigLater(target.file).then(
    (config) => ({ config }),
    (error: unknown) => ({ error }),
  );
  const r = reloadConfig(current, {
    file: target.file,
    load: () => {
      if ('error' in read) throw read.error;
      return read.config;
    },
    reloadable: AGENT_RELOADABLE,
    logger: target.logger,
    apply: (next, applied) => {
      if (applied.includes('log.level')) setLogLevel(target.logger, next.log.level);
    },
  }, why);
  // Certificate files are re-read on every SIGHUP: they change without the configuration changing.
  target.certificates?.reload(why);
  return r;
}
