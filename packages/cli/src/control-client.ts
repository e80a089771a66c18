import { readFileSync } from 'node:fs';
import { credentials as grpcCredentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { checkCoordinatorIdentity } from '@lbha/shared';
import { ControlServiceClient } from '@lbha/shared/control';
import type { CliConfig } from './cli-config.js';
import { CallError } from './errors.js';

export type Control = InstanceType<typeof ControlServiceClient>;

export function connect(config: CliConfig): Control {
  let creds = grpcCredentials.createInsecure();
  const options: Record<string, string> = {};
  if (config.tls) {
    const t = config.tls;
    creds = grpcCredentials.createSsl(
      readFileSync(t.ca),
      t.key ? readFileSync(t.key) : null,
      t.cert ? readFileSync(t.cert) : null,
      // A token goes only to a coordinator, not to any server with a certificate from the same CA.
      { checkServerIdentity: checkCoordinatorIdentity },
    );
    if (t.serverName) {
      options['grpc.ssl_target_name_override'] = t.serverName;
      options['grpc.default_authority'] = t.serverName;
    }
    if (config.token) {
      creds = grpcCredentials.combineChannelCredentials(
        creds,
        grpcCredentials.createFromMetadataGenerator((_p, cb) => {
          const md = new Metadata();
          md.set('authorization', `Bearer ${config.token}`);
          cb(null, md);
        }),
      );
    }
  }
  return new ControlServiceClient(config.coordinator, creds, options);
}

/** Metadata for plaintext channels, where call credentials cannot be attached. */
export function callMetadata(config: CliConfig): Metadata {
  const md = new Metadata();
  if (!config.tls && config.token) md.set('authorization', `Bearer ${config.token}`);
  return md;
}

function describe(err: ServiceError, address: string): string {
  if (err.code === status.UNAVAILABLE) return `coordinator at ${address} is unreachable: ${err.details}`;
  if (err.code === status.DEADLINE_EXCEEDED) return `coordinator at ${address} did not answer in time`;
  return `${status[err.code] ?? err.code}: ${err.details}`;
}

type UnaryMethod<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: { deadline: number },
  cb: (err: ServiceError | null, res: Res) => void,
) => unknown;

/** Calls a unary method with the configured deadline; failures become CallError with one line. */
export function call<Req, Res>(client: Control, config: CliConfig, method: UnaryMethod<Req, Res>, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, req, callMetadata(config), { deadline: Date.now() + config.timeoutMs }, (err, res) => {
      if (err) reject(new CallError(describe(err, config.coordinator), err.code));
      else resolve(res);
    });
  });
}
