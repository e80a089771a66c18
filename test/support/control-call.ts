// One unary call of the coordinator's control API over a client of its own (plaintext), closed
// when the call ends: for tests that talk to coordinators they start and stop themselves.
import { credentials, Metadata, type ChannelOptions, type ServiceError } from '@grpc/grpc-js';
import { ControlServiceClient } from '@lbha/shared/control';

export interface ControlCallOptions {
  /** The call's deadline from now (default 5 s). */
  readonly timeoutMs?: number;
  /** For large specs: message size limits and the like. */
  readonly channelOptions?: ChannelOptions;
}

export function controlCall<Req, Res>(address: string, method: keyof ControlServiceClient & string, req: Req, opts: ControlCallOptions = {}): Promise<Res> {
  const client = new ControlServiceClient(address, credentials.createInsecure(), opts.channelOptions ?? {});
  return new Promise<Res>((resolve, reject) => {
    const fn = (client[method] as unknown as (r: Req, m: Metadata, o: object, cb: (err: ServiceError | null, res: Res) => void) => void).bind(client);
    fn(req, new Metadata(), { deadline: Date.now() + (opts.timeoutMs ?? 5000) }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res);
    });
  });
}
