#!/usr/bin/env node
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { CertificateSource, clientCredentials, ConfigError, createLogger, isInsecure, watchedClientCredentials } from '@lbha/shared';
import { loadAgentConfig } from '../agent-config.js';
import { Agent } from '../agent.js';
import { compileAgentOptions } from '../agent-options.js';
import type { AgentCore } from '../ports.js';
import { StreamClient } from '../stream-client.js';
import { AGENT_VERSION } from '../version.js';

const USAGE = 'usage: lbha-agent --config FILE';

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    process.stderr.write(`lbha-agent: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const file = values.config ?? process.env['LBHA_AGENT_CONFIG'] ?? '/etc/lbha/agent.yaml';
  let config;
  try {
    config = loadAgentConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`lbha-agent: invalid configuration\n${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger('agent', { level: config.log.level }).child({ node: config.node });
  if (isInsecure(config.tls)) logger.warn({ event: 'tls.plaintext' }, 'TLS is off (tls.insecure: true): the coordinator is not authenticated');
  const core: AgentCore = new Agent(compileAgentOptions(config), { logger });
  try {
    await core.start();
  } catch (err) {
    logger.fatal({ event: 'agent.start_failed', err: (err as Error).message }, 'agent could not start');
    await core.stop().catch(() => undefined);
    throw err;
  }
  const { credentials: fixedCredentials, options } = clientCredentials(config.tls);
  // Rotated certificate files apply from the next (re)connect: re-read on SIGHUP or when they change.
  const certificates = isInsecure(config.tls) ? undefined : new CertificateSource(config.tls, { logger });
  // SIGHUP never stops the agent (`systemctl reload` sends it): it re-reads the certificates, if any.
  process.on('SIGHUP', () => {
    if (certificates) certificates.reload('SIGHUP');
    else logger.info({ event: 'agent.sighup' }, 'SIGHUP: nothing to reload (TLS is off)');
  });
  const credentials = certificates ? watchedClientCredentials(certificates) : fixedCredentials;
  const bootId = randomUUID();
  const stream = new StreamClient({
    addresses: config.coordinator.addresses,
    credentials,
    channelOptions: options,
    node: config.node,
    cluster: config.cluster,
    agentVersion: AGENT_VERSION,
    bootId,
    source: core,
    handler: core,
    logger,
    backoffInitialMs: config.coordinator.backoff.initial,
    backoffMaxMs: config.coordinator.backoff.max,
  });
  stream.onStateChange((s) => core.setCoordinatorLink(s === 'connected'));
  logger.info({ event: 'agent.started', bootId, version: AGENT_VERSION }, 'agent started');
  stream.start();
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ event: 'agent.signal', signal }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  await stream.stop();
  await core.stop();
  logger.info({ event: 'agent.stopped' }, 'agent stopped');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`lbha-agent: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
