// Where the CLI finds the coordinator and its credentials. Precedence, highest first:
// flags, environment (LBHA_*), the config file (--config, LBHA_CONFIG or ~/.config/lbha/cli.yaml), defaults.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { isLocalAddress, loadYamlFile, loosePermissions } from '@lbha/shared';
import { z } from 'zod';
import { UsageError } from './errors.js';

export const cliFileSchema = z
  .object({
    coordinator: z.string().min(1).optional(),
    token: z.string().min(1).optional(),
    ca: z.string().min(1).optional(),
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    serverName: z.string().min(1).optional(),
    insecure: z.boolean().optional(),
    timeout: z.number().int().min(100).max(600_000).optional(),
  })
  .strict();

export interface GlobalFlags {
  readonly config?: string | undefined;
  readonly coordinator?: string | undefined;
  readonly token?: string | undefined;
  readonly ca?: string | undefined;
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  readonly serverName?: string | undefined;
  readonly insecure?: boolean | undefined;
  readonly timeoutMs?: number | undefined;
  readonly json?: boolean | undefined;
}

export interface CliConfig {
  readonly coordinator: string;
  readonly token: string | undefined;
  readonly tls: { readonly ca: string; readonly cert: string | undefined; readonly key: string | undefined; readonly serverName: string | undefined } | undefined;
  readonly timeoutMs: number;
  readonly json: boolean;
  /** Secret files other users can read (the key, a config file holding a token): said on stderr. */
  readonly warnings: readonly string[];
}

export const DEFAULT_COORDINATOR = '127.0.0.1:7400';

export function resolveCliConfig(flags: GlobalFlags, env: NodeJS.ProcessEnv = process.env): CliConfig {
  const path = flags.config ?? env['LBHA_CONFIG'] ?? join(homedir(), '.config/lbha/cli.yaml');
  const explicit = flags.config !== undefined || env['LBHA_CONFIG'] !== undefined;
  const file = explicit || existsSync(path) ? loadYamlFile(path, cliFileSchema) : {};
  const pick = <T>(...values: Array<T | undefined>): T | undefined => values.find((v) => v !== undefined);
  const ca = pick(flags.ca, env['LBHA_CA'], file.ca);
  const cert = pick(flags.cert, env['LBHA_CERT'], file.cert);
  const key = pick(flags.key, env['LBHA_KEY'], file.key);
  const envInsecure = env['LBHA_INSECURE'] === undefined ? undefined : ['1', 'true', 'yes'].includes(env['LBHA_INSECURE']);
  const insecure = pick(flags.insecure, envInsecure, file.insecure) ?? false;
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--cert and --key go together');
  if (!insecure && ca === undefined) {
    throw new UsageError('no TLS CA given: pass --ca FILE (with --cert/--key or --token), or --insecure for a plaintext coordinator');
  }
  const envTimeout = env['LBHA_TIMEOUT'] === undefined ? undefined : Number(env['LBHA_TIMEOUT']);
  if (envTimeout !== undefined && !(envTimeout >= 100)) throw new UsageError('LBHA_TIMEOUT must be milliseconds, at least 100');
  const coordinator = pick(flags.coordinator, env['LBHA_COORDINATOR'], file.coordinator) ?? DEFAULT_COORDINATOR;
  const token = pick(flags.token, env['LBHA_TOKEN'], file.token);
  const warnings = [key === undefined ? undefined : loosePermissions(key), file.token === undefined ? undefined : loosePermissions(path)]
    .filter((w): w is string => w !== undefined)
    .map((w) => `${w}: it holds a secret`);
  if (insecure && token !== undefined && !isLocalAddress(coordinator)) warnings.push(`the bearer token goes to ${coordinator} in plaintext (--insecure): anyone on the way can read it`);
  return {
    warnings,
    coordinator,
    token,
    tls: insecure ? undefined : { ca: ca as string, cert, key, serverName: pick(flags.serverName, env['LBHA_SERVER_NAME'], file.serverName) },
    timeoutMs: pick(flags.timeoutMs, envTimeout, file.timeout) ?? 10_000,
    json: flags.json ?? false,
  };
}
