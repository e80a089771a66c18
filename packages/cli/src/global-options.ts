import type { FlagSpecs } from '@lbha/shared';

/** Flags every `lbha` command takes (also LBHA_* variables and ~/.config/lbha/cli.yaml, see cli-config.ts). */
export const GLOBAL_OPTIONS: FlagSpecs = {
  config: { type: 'string', arg: 'FILE', help: 'CLI configuration file (default ~/.config/lbha/cli.yaml; also LBHA_CONFIG)', complete: 'file' },
  coordinator: { type: 'string', short: 'C', arg: 'ADDR', help: 'coordinator gRPC address (default 127.0.0.1:7400; also LBHA_COORDINATOR)' },
  token: { type: 'string', arg: 'TOKEN', help: 'bearer token (also LBHA_TOKEN)' },
  ca: { type: 'string', arg: 'FILE', help: 'CA certificate of the coordinator (also LBHA_CA)', complete: 'file' },
  cert: { type: 'string', arg: 'FILE', help: 'client certificate (also LBHA_CERT)', complete: 'file' },
  key: { type: 'string', arg: 'FILE', help: 'client key (also LBHA_KEY)', complete: 'file' },
  'server-name': { type: 'string', arg: 'NAME', help: 'name to check the coordinator\'s certificate against (also LBHA_SERVER_NAME)' },
  insecure: { type: 'boolean', help: 'plaintext, for coordinators started with tls.insecure (also LBHA_INSECURE=1)' },
  timeout: {
    type: 'string',
    arg: 'MS',
    help: 'per-call deadline in milliseconds (default 10000); drain and restart take --timeout as the time of the whole operation, rolling-restart as the time of each node',
  },
  json: { type: 'boolean', help: 'machine-readable output' },
  help: { type: 'boolean', short: 'h', help: 'show usage and exit' },
  version: { type: 'boolean', short: 'V', help: 'print the version and exit' },
};
