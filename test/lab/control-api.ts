// A small client of the coordinator's ControlService for the lab: the tests and the demo ask the
// coordinator what it believes (nodes, VIP holders, health) and compare with what the lab sees.
import { readFileSync } from 'node:fs';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { type pbTypes } from '@lbha/shared';
import { ControlServiceClient, type pbControl } from '@lbha/shared/control';

export type VipInfo = pbControl.VipInfo;
export type NodeInfo = pbControl.NodeInfo;
export type LabEvent = pbTypes.Event;

type Unary<Req, Res> = (req: Req, options: { deadline: number }, cb: (err: ServiceError | null, res: Res) => void) => unknown;

export class ControlApi {
  private readonly client: InstanceType<typeof ControlServiceClient>;

  constructor(
    readonly address: string,
    tls: { ca: string; cert: string; key: string },
    private readonly timeoutMs = 3000,
  ) {
    const creds = credentials.createSsl(readFileSync(tls.ca), readFileSync(tls.key), readFileSync(tls.cert));
    // The coordinator's certificate names localhost; naming it avoids TLS SNI with an IP address.
    // The tests poll a coordinator that is starting or restarting every 100 ms: with grpc-js's
    // reconnect backoff (1 s growing by 1.6 per attempt) the channel tried again only seconds
    // after the coordinator listened, which on a loaded machine (load 20-29, a 13 s start) ran
    // past the lab's 20 s wait for it.
    this.client = new ControlServiceClient(address, creds, {
      'grpc.ssl_target_name_override': 'localhost',
      'grpc.default_authority': 'localhost',
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 500,
    });
  }

  private call<Req, Res>(method: Unary<Req, Res>, req: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      method.call(this.client, req, { deadline: Date.now() + this.timeoutMs }, (err, res) => {
        if (err) reject(err);
        else resolve(res);
      });
    });
  }

  async listVips(cluster = ''): Promise<VipInfo[]> {
    const res = await this.call<pbControl.ListVipsRequest, pbControl.ListVipsResponse>(
      this.client.listVips as unknown as Unary<pbControl.ListVipsRequest, pbControl.ListVipsResponse>,
      { cluster },
    );
    return res.vips;
  }

  async listNodes(cluster = ''): Promise<NodeInfo[]> {
    const res = await this.call<pbControl.ListNodesRequest, pbControl.ListNodesResponse>(
      this.client.listNodes as unknown as Unary<pbControl.ListNodesRequest, pbControl.ListNodesResponse>,
      { cluster },
    );
    return res.nodes;
  }

  /** Events after `afterSeq`, oldest first. */
  async listEvents(afterSeq = 0, limit = 5000): Promise<LabEvent[]> {
    const res = await this.call<pbControl.ListEventsRequest, pbControl.ListEventsResponse>(
      this.client.listEvents as unknown as Unary<pbControl.ListEventsRequest, pbControl.ListEventsResponse>,
      { afterSeq, limit, cluster: '', node: '' },
    );
    return res.events;
  }

  close(): void {
    this.client.close();
  }
}
