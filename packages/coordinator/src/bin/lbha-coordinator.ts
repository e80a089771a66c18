#!/usr/bin/env -S node --heap-growing-percent=50 --v8-pool-size=1
import { readFileSync } from 'node:fs';
import { createLogger, readPackageVersion, startDaemon, tlsFileProblem } from '@lbha/shared';
import { loadCoordinatorConfig, type CoordinatorConfig } from '../coordinator-config.js';
import { reloadCoordinator } from '../coordinator-reload.js';
import { CoordinatorServer } from '../server.js';
import { parseSpec } from '../spec/parse-spec.js';

const VERSION = readPackageVersion(new URL('../../../package.json', import.meta.url));

/** --check: the configuration, the spec it names and its TLS files; one line per problem. */
function check(file: string, config: CoordinatorConfig): number {
  const problems: string[] = [];
  const tls = tlsFileProblem(config.tls);
  if (tls) problems.push(`${file}: tls: ${tls}`);
  if (config.spec) {
    let text: string | undefined;
    try {
      text = readFileSync(config.spec, 'utf8');
    } catch (err) {
      problems.push(`${file}: spec: cannot read ${config.spec}: ${(err as Error).message}`);
    }
    const r = text === undefined ? undefined : parseSpec(text);
    if (r && !r.ok) for (const i of r.issues) problems.push(`${config.spec}${i.line > 0 ? `:${i.line}:${i.column}` : ''}: ${i.path ? `${i.path}: ` : ''}${i.message}`);
  }
  if (problems.length > 0) {
    process.stderr.write(`lbha-coordinator: ${problems.join('\n')}\n`);
    return 2;
  }
  process.stdout.write(`${file}: valid${config.spec ? ` (spec ${config.spec} valid)` : ''}\n`);
  return 0;
}

async function main(): Promise<number> {
  const args = startDaemon(
    { program: 'lbha-coordinator', version: VERSION, envVar: 'LBHA_COORDINATOR_CONFIG', defaultFile: '/etc/lbha/coordinator.yaml' },
    loadCoordinatorConfig,
  );
  if (args.kind === 'exit') return args.code;
  const file = args.file;
  let config: CoordinatorConfig = args.config;
  if (args.kind === 'check') return check(file, config);
  const logger = createLogger('coordinator', { level: config.log.level });
  const server = new CoordinatorServer(config, logger);
  await server.start();
  // SIGHUP (`systemctl reload`): tokens, webhooks and the log level from the file; the TLS files
  // are re-read by the server's own SIGHUP handler.
  process.on('SIGHUP', () => {
    const r = reloadCoordinator(config, { file, logger, server }, 'SIGHUP');
    if (r.kind === 'reloaded') config = r.config;
  });
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
