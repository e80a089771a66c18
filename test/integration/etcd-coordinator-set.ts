// What the integration tests of several coordinators on etcd share: the cluster spec of two LB
// nodes and two VIPs, the coordinators' configuration files, a coordinator process and its
// addresses, and calls to its APIs.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ControlServiceClient } from '@lbha/shared/control';
import { freePort } from '@lbha/test-support';
import { controlCall } from '../support/control-call.js';
import type { EtcdCluster } from '../support/etcd-cluster.js';
import type { Proc } from '../support/process.js';
import type { FakeFleet } from './etcd-fake-fleet.js';

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

/** How the coordinators of one test file differ: their etcd, keys and lease, and their callers. */
export interface CoordinatorSetOptions {
  /** etcd's client URLs. */
  readonly endpoints: readonly string[];
  /** The file's own key prefix in etcd. */
  readonly prefix: string;
  readonly leaseTtl: string;
  /** The `tls` and `auth` sections, as YAML flow mappings (tls: plaintext by default). */
  readonly tls?: string;
  readonly auth: string;
  /** The cluster spec the coordinators start with (default SPEC). */
  readonly spec?: string;
  /** An HTTP listener on a port of its own (/metrics). */
  readonly http: boolean;
  /** The `heartbeat` section, as a YAML flow mapping (default: the coordinator's). */
  readonly heartbeat?: string;
}

/**
 * Writes the spec and the configuration of coordinators c1, c2 and c3 into `dir`, each with free
 * ports and a state directory of its own; starts none of them. `http` is '' without a listener.
 */
export async function writeCoordinatorConfigs(dir: string, o: CoordinatorSetOptions): Promise<Array<Omit<Coordinator, 'proc'>>> {
  const specFile = join(dir, 'spec.yaml');
  writeFileSync(specFile, o.spec ?? SPEC);
  const written: Array<Omit<Coordinator, 'proc'>> = [];
  for (const id of ['c1', 'c2', 'c3']) {
    const grpc = `127.0.0.1:${await freePort()}`;
    const http = o.http ? `127.0.0.1:${await freePort()}` : '';
    const config = join(dir, `${id}.yaml`);
    const sections = [
      `id: ${id}`,
      `grpc: { listen: ["${grpc}"] }`,
      ...(http ? [`http: { listen: "${http}" }`] : []),
      `tls: ${o.tls ?? '{ insecure: true }'}`,
      `auth: ${o.auth}`,
      `stateDir: ${join(dir, id)}`,
      `spec: ${specFile}`,
      ...(o.heartbeat ? [`heartbeat: ${o.heartbeat}`] : []),
      `store: { kind: etcd, endpoints: [${o.endpoints.map((e) => `"${e}"`).join(', ')}], prefix: ${o.prefix}, leaseTtl: ${o.leaseTtl}, requestTimeout: 500ms }`,
    ];
    writeFileSync(config, `${sections.join('\n')}\n`);
    written.push({ id, grpc, http, config });
  }
  return written;
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

/** Waits until every coordinator has logged its start. */
export async function coordinatorsStarted(coordinators: ReadonlyArray<{ readonly proc: Proc }>): Promise<void> {
  await Promise.all(coordinators.map((c) => c.proc.waitForLog((l) => l.event === 'coordinator.started')));
}

/** Ends what a file started: the fleet's streams, the coordinators, etcd; removes `dir`. */
export async function stopCoordinatorSet(fleet: FakeFleet, coordinators: ReadonlyArray<{ readonly proc: Proc }>, cluster: EtcdCluster | undefined, dir: string): Promise<void> {
  await fleet.stop();
  await Promise.all(coordinators.map((c) => c.proc.stop()));
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
}
