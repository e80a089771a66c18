export { runCli, type Io } from './main.js';
export { resolveCliConfig, type CliConfig, type GlobalFlags } from './cli-config.js';
export type { CliCommand, CommandContext } from './command.js';
export { call, connect, type Control } from './control-client.js';
export { table, ago } from './table.js';
export { CallError, UsageError } from './errors.js';
export { handoverLines } from './commands/vips.js';
