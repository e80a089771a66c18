// What the denial-of-service tests measure while an attack runs against a real coordinator:
// the event loop's delay, /healthz answering, and whether live agents stay live. Agents here are
// real agent streams over mutual TLS that send a heartbeat every 300 ms, as a fleet would.
import { readFileSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { snapshotToWire } from '@lbha/shared';
import { pbControl } from '@lbha/shared/control';
import type { KeyPair } from '../../src/auth/dev-ca.js';
import { channelCredentials, http, openAgentStream, type TlsCoordinator } from './tls-coordinator.js';

export interface LiveAgents {
  /** Nodes the coordinator marked stale or saw disconnect while these agents kept sending. */
  readonly lapses: () => string[];
  readonly stop: () => void;
}

/** Connects an agent stream per node (agent certificates of the coordinator's CA) that heartbeats every 300 ms. */
export async function liveAgents(c: TlsCoordinator, nodes: readonly string[], cluster = 'web'): Promise<LiveAgents> {
  const lapses: string[] = [];
  const unsubscribe = c.server.registry.subscribe((e) => {
    if ((e.type === 'stale' || e.type === 'disconnected') && nodes.includes(e.node)) lapses.push(`${e.node} ${e.type}`);
  });
  const timers: NodeJS.Timeout[] = [];
  const closers: Array<() => void> = [];
  for (const node of nodes) {
    const r = await openAgentStream(c.grpcAddress, channelCredentials(c, { cert: c.ca.agents[node] }), { node, cluster });
    if (!r.ok) throw new Error(`agent ${node} could not connect: ${r.details}`);
    r.call.on('data', () => undefined);
    r.call.on('error', () => undefined);
    r.call.write({ msg: { $case: 'snapshot', value: { state: snapshotToWire({ services: [], checks: [], instances: [], healthy: true, appliedVersion: 0, localMode: 'active' }) } } });
    let seq = 0;
    timers.push(setInterval(() => r.call.write({ msg: { $case: 'heartbeat', value: { seq: ++seq, sentMs: Date.now() } } }), 300));
    closers.push(() => {
      r.call.end();
      r.client.close();
    });
  }
  return {
    lapses: () => [...lapses],
    stop: () => {
      unsubscribe();
      for (const t of timers) clearInterval(t);
      for (const close of closers) close();
    },
  };
}

export interface LoopFigures {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Slowest /healthz answer while the attack ran, and how many were asked. */
  readonly healthzMaxMs: number;
  readonly healthzAsked: number;
  readonly healthzFailed: number;
}

/**
 * Runs `attack` while sampling the event loop's delay (10 ms resolution) and asking /healthz
 * every 250 ms; returns the figures. The coordinator runs in this process, so its loop is the
 * one measured.
 */
export async function underAttack(c: TlsCoordinator, attack: () => Promise<void>): Promise<LoopFigures> {
  const h = monitorEventLoopDelay({ resolution: 10 });
  let healthzMaxMs = 0;
  let healthzAsked = 0;
  let healthzFailed = 0;
  let stop = false;
  const probe = (async () => {
    while (!stop) {
      const t = performance.now();
      healthzAsked++;
      try {
        if ((await http(c, 'GET', '/healthz')).status !== 200) healthzFailed++;
      } catch {
        healthzFailed++;
      }
      healthzMaxMs = Math.max(healthzMaxMs, performance.now() - t);
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  h.enable();
  try {
    await attack();
  } finally {
    h.disable();
    stop = true;
    await probe;
  }
  const ms = (ns: number) => Math.round(ns / 1e5) / 10;
  return { p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max), healthzMaxMs: Math.round(healthzMaxMs), healthzAsked, healthzFailed };
}

/** The same figures with no attack, for `ms` milliseconds: what the machine gives anyway. */
export function quiet(c: TlsCoordinator, ms = 3000): Promise<LoopFigures> {
  return underAttack(c, () => new Promise((r) => setTimeout(r, ms)));
}

/** One line of figures, for the test log (timings are reported, never asserted). */
export function report(what: string, f: LoopFigures, extra = ''): void {
  process.stdout.write(
    `# ${what}: event-loop delay p50 ${f.p50Ms} ms, p99 ${f.p99Ms} ms, max ${f.maxMs} ms; /healthz slowest ${f.healthzMaxMs} ms of ${f.healthzAsked} (${f.healthzFailed} failed)${extra ? `; ${extra}` : ''}\n`,
  );
}

/** The spec of the review: 2,000 nodes and 2,000 VIPs in one cluster (~330 kB), every VIP a problem. */
export function hostileSpec(nodes = 2000, vips = 2000): string {
  const lines = ['clusters:', '  - name: big', '    service: nginx', '    nodes:'];
  for (let i = 0; i < nodes; i++) lines.push(`      - name: n${i}`, '        interfaces:', `          - { name: eth1, address: 10.${(i >> 8) & 255}.${i & 255}.1/16 }`);
  lines.push('    vips:');
  for (let i = 0; i < vips; i++) lines.push(`      - { name: v${i}, address: 10.${(i >> 8) & 255}.${i & 255}.2/16, interface: eth1, vrid: ${(i % 255) + 1} }`);
  return `${lines.join('\n')}\n`;
}

/** A valid spec as large as the limits allow per cluster: `clusters` clusters of 2 nodes and 1 VIP, ~150 bytes a node. */
export function largeValidSpec(clusters: number): string {
  const lines = ['clusters:'];
  for (let c = 0; c < clusters; c++) {
    lines.push(`  - name: c${c}`, '    service: nginx', '    nodes:');
    for (let k = 0; k < 2; k++) lines.push(`      - name: n${c}-${k}`, '        interfaces:', `          - { name: eth1, address: 10.${(c >> 8) & 255}.${c & 255}.${k + 1}/24 }`);
    lines.push('    vips:', `      - { name: v${c}, address: 10.${(c >> 8) & 255}.${c & 255}.10/24, interface: eth1, vrid: 1 }`);
  }
  return `${lines.join('\n')}\n`;
}

/** A WatchEvents call that stops reading at the HTTP/2 level (grpc-js clients keep reading into memory). */
export interface StalledWatch {
  /** Resolves with the call's status once it has one (the client reads again from then on). */
  readonly status: () => Promise<{ readonly code: number; readonly details: string }>;
  readonly close: () => void;
}

/** Opens WatchEvents from `afterSeq` over raw HTTP/2 with a client certificate and reads nothing. */
export function stalledWatch(c: TlsCoordinator, cert: KeyPair, afterSeq = 0): StalledWatch {
  const session = http2Connect(`https://127.0.0.1:${c.grpcAddress.split(':').pop()}`, {
    ca: readFileSync(c.ca.ca.cert),
    cert: readFileSync(cert.cert),
    key: readFileSync(cert.key),
    servername: 'localhost',
  });
  session.on('error', () => undefined);
  const stream = session.request({ ':method': 'POST', ':path': '/lbha.v1.ControlService/WatchEvents', 'content-type': 'application/grpc', te: 'trailers' });
  stream.on('error', () => undefined);
  const body = pbControl.WatchEventsRequest.encode({ afterSeq, cluster: '', node: '' }).finish();
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  Buffer.from(body).copy(frame, 5);
  stream.end(frame);
  stream.pause();
  let headers: Record<string, unknown> = {};
  stream.on('response', (h) => (headers = h));
  const status = new Promise<{ code: number; details: string }>((resolve) => {
    const done = (t: Record<string, unknown>) => resolve({ code: Number(t['grpc-status']), details: decodeURIComponent(String(t['grpc-message'] ?? '')) });
    stream.on('trailers', done);
    stream.on('end', () => done(headers));
  });
  return {
    status: () => {
      stream.on('data', () => undefined);
      stream.resume();
      return status;
    },
    close: () => {
      stream.close();
      session.close();
    },
  };
}
