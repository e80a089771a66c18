// Builds the backend manager of a node's proxy: the nginx or haproxy side behind the one port,
// hooked to the proxy's supervisor so that every start, reload and restart applies the wanted
// server states again.
import type { BackendReport, Logger } from '@lbha/shared';
import type { AgentOptions, ProxyServiceOptions } from '../agent-options.js';
import type { NodeServices } from '../services/node-services.js';
import { nginxDumpArgs } from '../services/daemon-spec.js';
import { haproxyCommand } from '../services/haproxy-stats.js';
import type { SupervisedService } from '../services/supervised-service.js';
import type { CommandRunner } from '../util/run-command.js';
import { BackendManager } from './backend-manager.js';
import { HaproxyBackends } from './haproxy-backends.js';
import { NginxBackends } from './nginx-backends.js';
import type { ProxyBackends } from './proxy-backends.js';

export interface BackendManagerDeps {
  readonly run: CommandRunner;
  readonly logger: Logger;
  readonly now: () => number;
  readonly onReport: (report: BackendReport) => void;
}

/** The manager of the node's proxy (the first configured one); undefined without a proxy. */
export function createBackendManager(opts: AgentOptions, services: NodeServices, d: BackendManagerDeps): BackendManager | undefined {
  const p = opts.services[0];
  const service = p && services.service(p.name);
  return p && service && build({ ...d, node: opts.node, proxy: p, service, procNet: opts.procNetRoot });
}

function build(d: BackendManagerDeps & { node: string; proxy: ProxyServiceOptions; service: SupervisedService; procNet: string }): BackendManager {
  const p = d.proxy;
  const logger = d.logger.child({ service: p.name });
  const side: ProxyBackends =
    p.kind === 'nginx'
      ? new NginxBackends({
          node: d.node,
          binary: p.binary,
          dumpArgs: nginxDumpArgs({ binary: p.binary, configFile: p.configFile, prefix: p.prefix, errorLog: p.errorLog }),
          upstreamsDir: p.upstreamsDir,
          procNet: d.procNet,
          run: d.run,
          reload: () => d.service.reload(),
          running: () => d.service.liveness().state === 'running',
          masterPid: () => d.service.driver.status().pid,
          startNow: () => d.service.retryNow(),
          now: d.now,
        })
      : new HaproxyBackends({
          node: d.node,
          configFile: p.configFile,
          statsSocket: p.statsSocket,
          serverStateFile: p.serverStateFile,
          query: (command) => haproxyCommand(p.statsSocket, command, 2000),
          logger,
        });
  const manager = new BackendManager({ service: p.name, proxy: side, logger, now: d.now, onReport: d.onReport });
  d.service.onCycle(() => manager.proxyCycled());
  return manager;
}
