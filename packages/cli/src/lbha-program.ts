import type { ProgramDoc } from '@lbha/shared';
import { COMMANDS } from './commands/index.js';
import { GLOBAL_OPTIONS } from './global-options.js';

/** `lbha` as --help, the man page and the completion scripts describe it. */
export function lbhaProgram(): ProgramDoc {
  return {
    name: 'lbha',
    summary: 'operate lbha load-balancer clusters',
    synopsis: ['lbha [global flags] COMMAND [args]', 'lbha --version'],
    description: [
      'lbha is the operator CLI of lbha: it shows the nodes and VIPs the coordinator knows, drains, restarts and rolling-restarts services, follows the event log and checks and applies the cluster spec, through the coordinator\'s gRPC control API.',
      '`lbha spec validate FILE` and `lbha completion` work offline, without a coordinator.',
      'Every command prints a table by default and JSON with --json; every failure prints one line to stderr.',
    ],
    options: GLOBAL_OPTIONS,
    commands: COMMANDS,
    sections: [
      {
        title: 'Environment',
        paragraphs: [
          'LBHA_COORDINATOR, LBHA_TOKEN, LBHA_CA, LBHA_CERT, LBHA_KEY, LBHA_SERVER_NAME, LBHA_INSECURE, LBHA_TIMEOUT and LBHA_CONFIG stand in for the flags of the same name. Flags win over the environment, the environment over the configuration file.',
        ],
      },
      {
        title: 'Files',
        paragraphs: [
          '~/.config/lbha/cli.yaml: coordinator, token, ca, cert, key, serverName, insecure, timeout (the same settings as the flags).',
        ],
      },
      { title: 'Exit status', paragraphs: ['0 success; 1 the coordinator is unreachable or refused the call, or a checked file is invalid; 2 bad command line or configuration.'] },
      {
        title: 'Examples',
        paragraphs: ['  lbha spec validate /etc/lbha/cluster.yaml\n  lbha status\n  lbha vips --explain\n  lbha drain lb1 --wait\n  lbha events --follow'],
      },
      { title: 'See also', paragraphs: ['lbha-agent(8), lbha-coordinator(8), /usr/share/doc/lbha/operator-guide.md'] },
    ],
  };
}
