import { DAEMON_OPTIONS, type ProgramDoc } from '@lbha/shared';
import { COORDINATOR_RELOADABLE } from './coordinator-reload.js';

/** `lbha-coordinator` as its --help and man page describe it. */
export const COORDINATOR_PROGRAM: ProgramDoc = {
  name: 'lbha-coordinator',
  summary: 'VIP placement, reconciliation, operations and the operator API of lbha',
  synopsis: ['lbha-coordinator [--config FILE]', 'lbha-coordinator --check [--config FILE]', 'lbha-coordinator --version'],
  description: [
    'lbha-coordinator holds the intent for every cluster: it computes where each VIP should live, pushes versioned desired state to the agents, detects divergence, split brain and orphaned VIPs, runs drains, restarts and rolling restarts, records every change in an event log (with webhooks), and serves the gRPC control API, an HTTP/JSON API and Prometheus metrics.',
    'The configuration file is YAML; every field is described in /usr/share/doc/lbha-coordinator/README.md. --check validates it, the cluster spec it names (spec:) and its TLS files, and exits.',
  ],
  options: DAEMON_OPTIONS,
  commands: [],
  sections: [
    { title: 'Environment', paragraphs: ['LBHA_COORDINATOR_CONFIG: the configuration file when --config is not given (default /etc/lbha/coordinator.yaml). LBHA_LOG_LEVEL: the log level when the file sets none.'] },
    {
      title: 'Signals',
      paragraphs: [
        `SIGHUP (systemctl reload lbha-coordinator) re-reads the TLS certificate and key (new connections use them; open ones stay) and the configuration file, applies ${COORDINATOR_RELOADABLE.join(', ')} at once and logs one line (event config.reloaded) naming what changed and what keeps its old value until a restart (id, grpc, http, tls paths, spec, stateDir, heartbeat, store). A file that does not validate is refused with the reason and nothing changes. The cluster spec changes with lbha spec apply, not with a reload.`,
        'SIGTERM and SIGINT stop the coordinator; agents keep their VIPs and reconnect when it is back.',
      ],
    },
    { title: 'Files', paragraphs: ['/etc/lbha/coordinator.yaml, /etc/lbha/cluster.yaml, /etc/lbha/tls/, /var/lib/lbha/coordinator.'] },
    { title: 'Exit status', paragraphs: ['0 stopped on a signal, or --check found everything valid; 1 a failure at run time; 2 an invalid configuration or command line.'] },
    { title: 'See also', paragraphs: ['lbha(1), lbha-agent(8), lbha-dev-ca(1), /usr/share/doc/lbha-coordinator/'] },
  ],
};
