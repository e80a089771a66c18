import { parseArgs } from 'node:util';
import { ConfigError } from '@lbha/shared';
import { resolveCliConfig, type GlobalFlags } from './cli-config.js';
import type { CliCommand, OptionSpec } from './command.js';
import { COMMANDS } from './commands/index.js';
import { connect, type Control } from './control-client.js';
import { CallError, UsageError } from './errors.js';
import { jsonSafe, printable, printableLines } from './terminal-text.js';

const GLOBAL_OPTIONS: OptionSpec = {
  config: { type: 'string' },
  coordinator: { type: 'string', short: 'C' },
  token: { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'server-name': { type: 'string' },
  insecure: { type: 'boolean' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'usage: lbha [global flags] COMMAND [args]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'global flags (also LBHA_COORDINATOR, LBHA_TOKEN, LBHA_CA, LBHA_CERT, LBHA_KEY, LBHA_INSECURE, LBHA_CONFIG):',
    '  --coordinator, -C ADDR   coordinator gRPC address (default 127.0.0.1:7400)',
    '  --token TOKEN            bearer token',
    '  --ca/--cert/--key FILE   TLS CA and client certificate',
    '  --insecure               plaintext (only for coordinators started with tls.insecure)',
    '  --timeout MS             per-call deadline (default 10000; drain, restart and',
    '                           rolling-restart take --timeout as the operation deadline)',
    '  --json                   machine-readable output',
    '',
  ].join('\n');
}

export interface Io {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

/** Index of the command name: the first word that is not a global flag or a global flag's value. */
function commandIndex(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('-')) return i;
    if (a.includes('=')) continue;
    const spec = a.startsWith('--') ? GLOBAL_OPTIONS[a.slice(2)] : Object.values(GLOBAL_OPTIONS).find((o) => o.short === a.slice(1));
    if (spec?.type === 'string') i++;
  }
  return -1;
}

/** Runs the CLI; resolves to the process exit code. Every failure prints one line to stderr. */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  const at = commandIndex(argv);
  const name = at < 0 ? undefined : argv[at];
  const command: CliCommand | undefined = COMMANDS.find((c) => c.name === name);
  if (!name || argv.includes('--help') || argv.includes('-h')) {
    io.stdout(command ? `usage: ${command.usage}\n` : help());
    return name && !command ? 2 : 0;
  }
  let client: Control | undefined;
  // Whatever a command prints, no control character reaches the terminal raw (terminal-text.ts).
  const fail = (message: string) => io.stderr(`lbha: ${printable(message)}\n`);
  try {
    if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)} (see lbha --help)`);
    const rest = [...argv];
    rest.splice(at, 1);
    let parsed;
    try {
      parsed = parseArgs({ args: rest, options: { ...GLOBAL_OPTIONS, ...command.options }, allowPositionals: true, strict: true });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const v = parsed.values as Record<string, string | boolean | undefined>;
    let timeoutMs: number | undefined;
    // A command with its own --timeout (how long an operation may take) keeps it for itself.
    if (v['timeout'] !== undefined && !command.options['timeout']) {
      timeoutMs = Number(v['timeout']);
      if (!Number.isInteger(timeoutMs) || timeoutMs < 100) throw new UsageError('--timeout must be milliseconds, at least 100');
    }
    const flags: GlobalFlags = {
      config: v['config'] as string | undefined,
      coordinator: v['coordinator'] as string | undefined,
      token: v['token'] as string | undefined,
      ca: v['ca'] as string | undefined,
      cert: v['cert'] as string | undefined,
      key: v['key'] as string | undefined,
      serverName: v['server-name'] as string | undefined,
      insecure: v['insecure'] as boolean | undefined,
      timeoutMs,
      json: v['json'] as boolean | undefined,
    };
    const config = resolveCliConfig(flags, io.env);
    for (const w of config.warnings) io.stderr(`lbha: warning: ${printable(w)}\n`);
    return await command.run({
      config,
      client: () => (client ??= connect(config)),
      positionals: parsed.positionals,
      values: v,
      out: (s) => io.stdout(config.json ? jsonSafe(s) : printableLines(s)),
      progress: (s) => io.stderr(printableLines(s)),
    });
  } catch (err) {
    if (err instanceof UsageError) {
      fail(err.message);
      return 2;
    }
    if (err instanceof CallError) {
      fail(err.message);
      return 1;
    }
    if (err instanceof ConfigError) {
      fail(err.message.split('\n').join('; '));
      return 2;
    }
    fail((err as Error).message ?? String(err));
    return 1;
  } finally {
    client?.close();
  }
}
