import type { CliCommand } from '../command.js';
import { auditCommand } from './audit.js';
import { backendCommand, backendsCommand } from './backends.js';
import { completionCommand } from './completion.js';
import { drainCommand, undrainCommand } from './drain.js';
import { drillCommand } from './drill.js';
import { eventsCommand } from './events.js';
import { moveCommand, unpinCommand } from './move.js';
import { nodesCommand } from './nodes.js';
import { simulateCommand } from './simulate.js';
import { cancelCommand, operationsCommand } from './operations.js';
import { reloadCommand, restartCommand, rollingRestartCommand } from './restart.js';
import { specCommand } from './spec.js';
import { statusCommand } from './status.js';
import { vipsCommand } from './vips.js';

/** Every subcommand, in the order `lbha --help` lists them. */
export const COMMANDS: readonly CliCommand[] = [
  statusCommand,
  nodesCommand,
  vipsCommand,
  drainCommand,
  undrainCommand,
  restartCommand,
  reloadCommand,
  rollingRestartCommand,
  backendsCommand,
  backendCommand,
  moveCommand,
  unpinCommand,
  drillCommand,
  simulateCommand,
  operationsCommand,
  cancelCommand,
  specCommand,
  eventsCommand,
  auditCommand,
  completionCommand,
];
