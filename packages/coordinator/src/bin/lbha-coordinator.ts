#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, createLogger } from '@lbha/shared';
import { loadCoordinatorConfig } from '../coordinator-config.js';
import { CoordinatorServer } from '../server.js';

const USAGE = 'usage: lbha-coordinator --config FILE';

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    process.stderr.write(`lbha-coordinator: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const file = values.config ?? process.env['LBHA_COORDINATOR_CONFIG'] ?? '/etc/lbha/coordinator.yaml';
  let config;
  try {
    config = loadCoordinatorConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`lbha-coordinator: invalid configuration\n${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger('coordinator', { level: config.log.level });
  const server = new CoordinatorServer(config, logger);
  await server.start();
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ event: 'coordinator.signal', signal }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  await server.stop();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`lbha-coordinator: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
