import type { CliCommand } from '../command.js';
import { statusCommand } from './status.js';

/** Every subcommand, in the order `lbha --help` lists them. */
export const COMMANDS: readonly CliCommand[] = [statusCommand];
