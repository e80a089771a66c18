import { daemonProgram } from '@lbha/shared';
import { AGENT_RELOADABLE } from './agent-reload.js';

/** `lbha-agent` as its --help and man page describe it. */
export const AGENT_PROGRAM = daemonProgram({
  name: 'lbha-agent',
  summary: 'health checks, keepalived track files and proxy supervision on one LB node',
  description: [
    'lbha-agent runs on every load-balancer node. It checks the proxy (nginx or haproxy), keepalived and the node, supervises them through systemd or directly, renders keepalived.conf from the desired state the coordinator sends, feeds keepalived\'s track files so that VIPs fail over without a reload, and streams the node\'s state to the coordinator over one gRPC stream. VIPs keep failing over on the agent\'s own when the coordinator is gone.',
    'The configuration file is YAML; every field is described in /usr/share/doc/lbha-agent/README.md. The checks and their thresholds come from the cluster spec, which the coordinator sends: `lbha spec apply` changes them on every agent without a restart.',
  ],
  envVar: 'LBHA_AGENT_CONFIG',
  defaultFile: '/etc/lbha/agent.yaml',
  signals: [
    `SIGHUP (systemctl reload lbha-agent) re-reads the configuration file and the TLS certificate and key. It applies ${AGENT_RELOADABLE.join(', ')} and the new contents of the TLS files at once and logs one line (event config.reloaded) naming what changed and what keeps its old value until a restart (everything else, including the paths of the TLS files). A file that does not validate is refused with the reason and nothing changes.`,
    'SIGTERM and SIGINT stop the agent; keepalived and the proxies keep running with the last track-file values, and the next agent adopts them, so a restart moves no VIP.',
  ],
  files: '/etc/lbha/agent.yaml, /etc/lbha/tls/, /var/lib/lbha/agent, /run/lbha/agent (track files, notify FIFO), /etc/keepalived/keepalived.conf (rendered).',
  checked: 'the configuration',
  seeAlso: 'lbha(1), lbha-coordinator(8), keepalived(8), systemd.service(5), /usr/share/doc/lbha-agent/',
});
