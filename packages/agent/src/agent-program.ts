import { DAEMON_OPTIONS, type ProgramDoc } from '@lbha/shared';
import { AGENT_RELOADABLE } from './agent-reload.js';

/** `lbha-agent` as its --help and man page describe it. */
export const AGENT_PROGRAM: ProgramDoc = {
  name: 'lbha-agent',
  summary: 'health checks, keepalived track files and proxy supervision on one LB node',
  synopsis: ['lbha-agent [--config FILE]', 'lbha-agent --check [--config FILE]', 'lbha-agent --version'],
  description: [
    'lbha-agent runs on every load-balancer node. It checks the proxy (nginx or haproxy), keepalived and the node, supervises them through systemd or directly, renders keepalived.conf from the desired state the coordinator sends, feeds keepalived\'s track files so that VIPs fail over without a reload, and streams the node\'s state to the coordinator over one gRPC stream. VIPs keep failing over on the agent\'s own when the coordinator is gone.',
    'The configuration file is YAML; every field is described in /usr/share/doc/lbha-agent/README.md. The checks and their thresholds come from the cluster spec, which the coordinator sends: `lbha spec apply` changes them on every agent without a restart.',
  ],
  options: DAEMON_OPTIONS,
  commands: [],
  sections: [
    { title: 'Environment', paragraphs: ['LBHA_AGENT_CONFIG: the configuration file when --config is not given (default /etc/lbha/agent.yaml). LBHA_LOG_LEVEL: the log level when the file sets none.'] },
    {
      title: 'Signals',
      paragraphs: [
        `SIGHUP (systemctl reload lbha-agent) re-reads the configuration file and the TLS certificate and key. It applies ${AGENT_RELOADABLE.join(', ')} and the new contents of the TLS files at once and logs one line (event config.reloaded) naming what changed and what keeps its old value until a restart (everything else, including the paths of the TLS files). A file that does not validate is refused with the reason and nothing changes.`,
        'SIGTERM and SIGINT stop the agent; keepalived and the proxies keep running with the last track-file values, and the next agent adopts them, so a restart moves no VIP.',
      ],
    },
    { title: 'Files', paragraphs: ['/etc/lbha/agent.yaml, /etc/lbha/tls/, /var/lib/lbha/agent, /run/lbha/agent (track files, notify FIFO), /etc/keepalived/keepalived.conf (rendered).'] },
    { title: 'Exit status', paragraphs: ['0 stopped on a signal, or --check found the configuration valid; 1 a failure at run time; 2 an invalid configuration or command line.'] },
    { title: 'See also', paragraphs: ['lbha(1), lbha-coordinator(8), keepalived(8), systemd.service(5), /usr/share/doc/lbha-agent/'] },
  ],
};
