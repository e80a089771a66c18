import type { CommandDoc, FlagSpecs } from '@lbha/shared';
import type { CliConfig } from './cli-config.js';
import type { Control } from './control-client.js';

export type OptionSpec = FlagSpecs;

export interface CommandContext {
  /** Where the coordinator is and how to reach it; resolved on first use, so offline commands need none. */
  readonly config: CliConfig;
  /** The control API client, created on first use. */
  readonly client: () => Control;
  readonly positionals: readonly string[];
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  readonly out: (text: string) => void;
  /** Progress lines for long operations (stderr, so --json output stays clean). */
  readonly progress: (text: string) => void;
}

/** One `lbha` subcommand: its documented flags (parsed, listed in help, man page and completion) and `run`. */
export interface CliCommand extends CommandDoc {
  /** Resolves to the exit code. */
  run(ctx: CommandContext): Promise<number>;
}
