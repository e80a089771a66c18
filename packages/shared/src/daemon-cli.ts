// The command line both daemons share: --config FILE, --check, --version, --help. Parsed from
// the same FlagSpecs their man pages are generated from.
import { parseArgs } from 'node:util';
import { loadCertificateFiles } from './certificate-source.js';
import { ConfigError } from './errors.js';
import { flagHelp, parseArgsOptions, type FlagSpecs, type ProgramDoc } from './program-doc.js';
import { versionText } from './release-version.js';
import { isInsecure } from './tls-config.js';
import type { TlsConfig } from './tls-schema.js';

export const DAEMON_OPTIONS: FlagSpecs = {
  config: { type: 'string', short: 'c', arg: 'FILE', help: 'configuration file (default: the environment variable named below, then /etc/lbha/...)', complete: 'file' },
  check: { type: 'boolean', help: 'validate the configuration file (and the files it names) and exit: 0 valid, 2 invalid' },
  version: { type: 'boolean', short: 'V', help: 'print the version and exit' },
  help: { type: 'boolean', short: 'h', help: 'show usage and exit' },
};

/** What a daemon's man page says of it; the rest (synopsis, options, environment, exit status) is the same for both. */
export interface DaemonDoc {
  readonly name: string;
  readonly summary: string;
  readonly description: readonly string[];
  /** Environment variable naming the configuration file, and the file when it is unset. */
  readonly envVar: string;
  readonly defaultFile: string;
  readonly signals: readonly string[];
  readonly files: string;
  /** What --check validates, as "--check found ... valid" ends. */
  readonly checked: string;
  readonly seeAlso: string;
}

/** A daemon's man page and --help, from what is its own. */
export function daemonProgram(d: DaemonDoc): ProgramDoc {
  return {
    name: d.name,
    summary: d.summary,
    synopsis: [`${d.name} [--config FILE]`, `${d.name} --check [--config FILE]`, `${d.name} --version`],
    description: d.description,
    options: DAEMON_OPTIONS,
    commands: [],
    sections: [
      { title: 'Environment', paragraphs: [`${d.envVar}: the configuration file when --config is not given (default ${d.defaultFile}). LBHA_LOG_LEVEL: the log level when the file sets none.`] },
      { title: 'Signals', paragraphs: d.signals },
      { title: 'Files', paragraphs: [d.files] },
      { title: 'Exit status', paragraphs: [`0 stopped on a signal, or --check found ${d.checked} valid; 1 a failure at run time; 2 an invalid configuration or command line.`] },
      { title: 'See also', paragraphs: [d.seeAlso] },
    ],
  };
}

export type DaemonArgs = { readonly kind: 'run' | 'check'; readonly file: string } | { readonly kind: 'exit'; readonly code: number };

export interface DaemonCliSpec {
  readonly program: string;
  readonly version: string;
  /** Environment variable naming the configuration file (the units set it). */
  readonly envVar: string;
  readonly defaultFile: string;
}

/** Parses a daemon's arguments; --help, --version and bad arguments are answered here. */
export function parseDaemonArgs(spec: DaemonCliSpec, argv: readonly string[], env: NodeJS.ProcessEnv, out: (s: string) => void, err: (s: string) => void): DaemonArgs {
  const usage = [`usage: ${spec.program} [--config FILE] [--check] [--version]`, '', ...flagHelp(DAEMON_OPTIONS), '', `--config defaults to $${spec.envVar}, then ${spec.defaultFile}.`, ''].join('\n');
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: parseArgsOptions(DAEMON_OPTIONS), strict: true, allowPositionals: false }));
  } catch (e) {
    err(`${spec.program}: ${(e as Error).message}\n${usage}`);
    return { kind: 'exit', code: 2 };
  }
  if (values['help']) {
    out(usage);
    return { kind: 'exit', code: 0 };
  }
  if (values['version']) {
    out(versionText(spec.program, spec.version));
    return { kind: 'exit', code: 0 };
  }
  const file = (values['config'] as string | undefined) ?? env[spec.envVar] ?? spec.defaultFile;
  return { kind: values['check'] ? 'check' : 'run', file };
}

export type DaemonStart<T> = { readonly kind: 'exit'; readonly code: number } | { readonly kind: 'run' | 'check'; readonly file: string; readonly config: T };

/**
 * A daemon's start: its arguments, then its configuration file loaded with `load`. --help,
 * --version, bad arguments and an invalid file (exit 2, every problem named) end here.
 */
export function startDaemon<T>(spec: DaemonCliSpec, load: (file: string) => T, argv: readonly string[] = process.argv.slice(2)): DaemonStart<T> {
  const args = parseDaemonArgs(spec, argv, process.env, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
  if (args.kind === 'exit') return args;
  try {
    return { kind: args.kind, file: args.file, config: load(args.file) };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${spec.program}: invalid configuration\n${err.message}\n`);
    return { kind: 'exit', code: 2 };
  }
}

/** Problems with the TLS files a configuration names (unreadable, no certificate, key not matching). */
export function tlsFileProblem(tls: TlsConfig): string | undefined {
  if (isInsecure(tls)) return undefined;
  const r = loadCertificateFiles(tls);
  return r.ok ? undefined : r.error;
}
