import { daemonProgram } from '@lbha/shared';
import { COORDINATOR_RELOADABLE } from './coordinator-reload.js';

/** `lbha-coordinator` as its --help and man page describe it. */
export const COORDINATOR_PROGRAM = daemonProgram({
  name: 'lbha-coordinator',
  summary: 'VIP placement, reconciliation, operations and the operator API of lbha',
  description: [
    'lbha-coordinator holds the intent for every cluster: it computes where each VIP should live, pushes versioned desired state to the agents, detects divergence, split brain and orphaned VIPs, runs drains, restarts and rolling restarts, records every change in an event log (with webhooks), and serves the gRPC control API, an HTTP/JSON API and Prometheus metrics.',
    'The configuration file is YAML; every field is described in /usr/share/doc/lbha-coordinator/README.md. --check validates it, the cluster spec it names (spec:) and its TLS files, and exits.',
  ],
  envVar: 'LBHA_COORDINATOR_CONFIG',
  defaultFile: '/etc/lbha/coordinator.yaml',
  signals: [
    `SIGHUP (systemctl reload lbha-coordinator) re-reads the TLS certificate and key (new connections use them; open ones stay) and the configuration file, applies ${COORDINATOR_RELOADABLE.join(', ')} at once and logs one line (event config.reloaded) naming what changed and what keeps its old value until a restart (id, grpc, http, tls paths, spec, stateDir, heartbeat, store). A file that does not validate is refused with the reason and nothing changes. The cluster spec changes with lbha spec apply, not with a reload.`,
    'SIGTERM and SIGINT stop the coordinator; agents keep their VIPs and reconnect when it is back.',
  ],
  files: '/etc/lbha/coordinator.yaml, /etc/lbha/cluster.yaml, /etc/lbha/tls/, /var/lib/lbha/coordinator.',
  checked: 'everything',
  seeAlso: 'lbha(1), lbha-agent(8), lbha-dev-ca(1), /usr/share/doc/lbha-coordinator/',
});
