import { parseArgs } from 'node:util';
import { ConfigError, flagHelp, parseArgsOptions, readPackageVersion, versionText } from '@lbha/shared';
import { resolveCliConfig, type CliConfig, type GlobalFlags } from './cli-config.js';
import type { CliCommand } from './command.js';
import { COMMANDS } from './commands/index.js';
import { connect, type Control } from './control-client.js';
import { CallError, UsageError } from './errors.js';
import { GLOBAL_OPTIONS } from './global-options.js';
import { jsonSafe, printable, printableLines } from './terminal-text.js';

export const CLI_VERSION = readPackageVersion(new URL('../../package.json', import.meta.url));

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'usage: lbha [global flags] COMMAND [args]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'global flags (also LBHA_COORDINATOR, LBHA_TOKEN, LBHA_CA, LBHA_CERT, LBHA_KEY, LBHA_INSECURE, LBHA_CONFIG):',
    ...flagHelp(GLOBAL_OPTIONS),
    '',
    '`lbha COMMAND --help` shows a command\'s flags; `man lbha` has everything.',
    '',
  ].join('\n');
}

function commandHelp(c: CliCommand): string {
  const flags = flagHelp(c.options);
  return [`usage: ${c.usage}`, '', c.summary, ...(flags.length ? ['', 'flags:', ...flags] : []), ''].join('\n');
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
  if (!name && (argv.includes('--version') || argv.includes('-V'))) {
    io.stdout(versionText('lbha', CLI_VERSION));
    return 0;
  }
  if (!name || argv.includes('--help') || argv.includes('-h')) {
    io.stdout(command ? commandHelp(command) : help());
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
      parsed = parseArgs({ args: rest, options: parseArgsOptions({ ...GLOBAL_OPTIONS, ...command.options }), allowPositionals: true, strict: true });
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
    // Resolved when a command first needs the coordinator: offline commands work without one.
    let config: CliConfig | undefined;
    const resolved = (): CliConfig => {
      if (config) return config;
      config = resolveCliConfig(flags, io.env);
      for (const w of config.warnings) io.stderr(`lbha: warning: ${printable(w)}\n`);
      return config;
    };
    return await command.run({
      get config() {
        return resolved();
      },
      client: () => (client ??= connect(resolved())),
      positionals: parsed.positionals,
      values: v,
      out: (s) => io.stdout(flags.json ? jsonSafe(s) : printableLines(s)),
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
