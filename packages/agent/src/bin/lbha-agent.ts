#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=1 --lite-mode --single-threaded-gc --bytecode-old-age=1 --expose-gc --compact-on-every-full-gc
import { randomUUID } from 'node:crypto';
import { CertificateSource, clientCredentials, createLogger, isInsecure, startDaemon, tlsFileProblem, watchedClientCredentials } from '@lbha/shared';
import type { AgentConfig } from '../agent-config.js';
import { readAgentConfig } from '../agent-config-reader.js';
import { reloadAgent } from '../agent-reload.js';
import { Agent } from '../agent.js';
import { compileAgentOptions } from '../agent-options.js';
import type { AgentCore } from '../ports.js';
import { StreamClient } from '../stream-client.js';
import { probeSocketKind } from '../checks/probe-socket.js';
import { AGENT_VERSION } from '../version.js';

async function main(): Promise<number> {
  const args = startDaemon({ program: 'lbha-agent', version: AGENT_VERSION, envVar: 'LBHA_AGENT_CONFIG', defaultFile: '/etc/lbha/agent.yaml' }, (f) => {
    const c = readAgentConfig(f);
    compileAgentOptions(c);
    return c;
  });
  if (args.kind === 'exit') return args.code;
  const file = args.file;
  let config: AgentConfig = args.config;
  if (args.kind === 'check') {
    const tls = tlsFileProblem(config.tls);
    if (tls) {
      process.stderr.write(`lbha-agent: ${file}: tls: ${tls}\n`);
      return 2;
    }
    process.stdout.write(`${file}: valid (node ${config.node}, cluster ${config.cluster})\n`);
    return 0;
  }
  const root = createLogger('agent', { level: config.log.level });
  const logger = root.child({ node: config.node });
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
  // SIGHUP never stops the agent (`systemctl reload` sends it): it re-reads the configuration
  // and the certificates, applies what can change safely and logs what needs a restart.
  // One reload at a time, in the order the signals came.
  let reloading = Promise.resolve();
  process.on('SIGHUP', () => {
    reloading = reloading.then(async () => {
      const r = await reloadAgent(config, { file, logger: root, certificates }, 'SIGHUP');
      if (r.kind === 'reloaded') config = r.config;
    });
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
    backoffMaxUnreachableMs: config.coordinator.backoff.maxUnreachable,
  });
  stream.onStateChange((s) => core.setCoordinatorLink(s === 'connected'));
  logger.info({ event: 'agent.started', bootId, version: AGENT_VERSION, probeSocket: probeSocketKind() }, 'agent started');
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
