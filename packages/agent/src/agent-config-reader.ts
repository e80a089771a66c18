// Reads the agent's configuration through a short-lived process (bin/lbha-agent-config.ts): the
// YAML parser, zod and the schemas cost the agent about 1.3 MB of private memory for as long as
// it runs when it parses in its own heap, and a worker thread does not give that back
// (docs/benchmarks.md, Agent). The outcome is the same as loadAgentConfig's: the validated
// configuration, or a ConfigError with the same issues.
import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError, type ConfigIssue } from '@lbha/shared';
import type { AgentConfig } from './agent-config.js';

/**
 * The parser's bundle. Both dist/src/*.js and the agent's bundle (dist/bundle/lbha-agent.js) sit
 * two levels under packages/agent, so the same relative URL finds it from either.
 */
export const CONFIG_READER_SCRIPT = fileURLToPath(new URL('../bundle/lbha-agent-config.js', import.meta.url));

/** A configuration file is small: its parse takes milliseconds, the node start about 50 ms. */
const TIMEOUT_MS = 60_000;
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

type ReaderOutput = { readonly config: AgentConfig } | { readonly source: string; readonly issues: readonly ConfigIssue[] };

function outcome(file: string, stdout: string): AgentConfig {
  let out: ReaderOutput;
  try {
    out = JSON.parse(stdout) as ReaderOutput;
  } catch {
    throw new Error(`the configuration reader for ${file} printed no result: ${JSON.stringify(stdout.slice(0, 200))}`);
  }
  if ('config' in out) return out.config;
  throw new ConfigError(out.source, out.issues);
}

function failure(file: string, err: unknown): Error {
  const e = err as { message?: string; stderr?: string | Buffer };
  const stderr = String(e.stderr ?? '').trim();
  return new Error(`the configuration reader for ${file} failed: ${stderr || e.message || String(err)}`);
}

// Without the agent's V8 flags: the reader lives for a fraction of a second, and starts faster with them off.
const args = (file: string): string[] => [CONFIG_READER_SCRIPT, file];

/** At start (and for --check-config): blocks until the reader is done. */
export function readAgentConfig(file: string): AgentConfig {
  let stdout: string;
  try {
    stdout = execFileSync(process.execPath, args(file), { encoding: 'utf8', timeout: TIMEOUT_MS, maxBuffer: MAX_OUTPUT_BYTES, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw failure(file, err);
  }
  return outcome(file, stdout);
}

/** On SIGHUP: the agent's loop keeps running (checks, the hung-proxy watch) while it reads. */
export function readAgentConfigLater(file: string): Promise<AgentConfig> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args(file), { encoding: 'utf8', timeout: TIMEOUT_MS, maxBuffer: MAX_OUTPUT_BYTES }, (err, stdout, stderr) => {
      if (err) {
        reject(failure(file, Object.assign(err, { stderr })));
        return;
      }
      try {
        resolve(outcome(file, stdout));
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}
