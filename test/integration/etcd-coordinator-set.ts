// What the integration tests of several coordinators on etcd share: the cluster spec of two LB
// nodes and two VIPs, a coordinator process and its addresses, and calls to its APIs.
import type { ControlServiceClient } from '@lbha/shared/control';
import { controlCall } from '../support/control-call.js';
import type { Proc } from '../support/process.js';

export const SPEC = `clusters:
  - name: web
    service: nginx
    policy:
      failback: immediate
      advert_interval: 100ms
      base_priority: 100
    nodes:
      - name: lb1
        interfaces:
          - name: eth1
            address: 10.0.0.1/24
      - name: lb2
        interfaces:
          - name: eth1
            address: 10.0.0.2/24
    vips:
      - name: vip-a
        address: 10.0.0.10/24
        interface: eth1
        vrid: 10
        home: lb1
      - name: vip-b
        address: 10.0.0.11/24
        interface: eth1
        vrid: 11
        home: lb2
`;

export interface Coordinator {
  readonly id: string;
  readonly grpc: string;
  readonly http: string;
  readonly config: string;
  proc: Proc;
}

export const call = <Req, Res>(address: string, method: keyof ControlServiceClient & string, req: Req, timeoutMs = 5000): Promise<Res> =>
  controlCall<Req, Res>(address, method, req, { timeoutMs });

/** One sample of a metric without labels from the coordinator's /metrics; undefined if absent or unreachable. */
export async function metric(c: Coordinator, name: string): Promise<number | undefined> {
  try {
    const res = await fetch(`http://${c.http}/metrics`, { signal: AbortSignal.timeout(2000) });
    const line = (await res.text()).split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  } catch {
    return undefined;
  }
}
