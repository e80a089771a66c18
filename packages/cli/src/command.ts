import type { ParseArgsConfig } from 'node:util';
import type { CliConfig } from './cli-config.js';
import type { Control } from './control-client.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface CommandContext {
  readonly config: CliConfig;
  /** The control API client, created on first use. */
  readonly client: () => Control;
  readonly positionals: readonly string[];
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  readonly out: (text: string) => void;
  /** Progress lines for long operations (stderr, so --json output stays clean). */
  readonly progress: (text: string) => void;
}

/** One `lbha` subcommand. `run` resolves to the exit code. */
export interface CliCommand {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly options: OptionSpec;
  run(ctx: CommandContext): Promise<number>;
}
