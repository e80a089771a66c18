// The samples of the limits that keep one caller from starving the others: connections,
// failed authentications, request rates, event watchers, agent streams, and the history's
// backlog. Read at scrape time from what the guards count.
import { Family } from './exposition-writer.js';
import { METRICS } from './metric-definitions.js';

export interface GuardStats {
  readonly connections: Readonly<Record<'grpc' | 'http', { readonly open: number; readonly refused: { readonly total: number; readonly perAddress: number } }>>;
  /** TLS handshakes on the gRPC port: running, connections waiting for one, started so far, slots given back by their timer. */
  readonly grpcHandshakes: { readonly running: number; readonly queued: number; readonly started: number; readonly slotsTimedOut: number };
  readonly authFailures: Readonly<Record<'grpc' | 'http' | 'agent', number>>;
  readonly authThrottled: number;
  readonly authThrottledAddresses: number;
  readonly rateLimited: number;
  readonly eventWatchers: number;
  readonly watchersDisconnected: Readonly<Record<'too_slow' | 'behind', number>>;
  readonly agentConnectsRefused: number;
  readonly agentStreamsEnded: number;
  readonly history: Readonly<Record<'events' | 'audit', { readonly pending: number; readonly dropped: number }>>;
}

export function guardSamples(g: GuardStats): string {
  const open = new Family(METRICS.apiConnections);
  const refused = new Family(METRICS.apiConnectionsRefused);
  for (const api of ['grpc', 'http'] as const) {
    const c = g.connections[api];
    open.add(`api="${api}"`, c.open);
    refused.add(`api="${api}",reason="total"`, c.refused.total);
    refused.add(`api="${api}",reason="per_address"`, c.refused.perAddress);
  }
  const handshakes = new Family(METRICS.grpcHandshakes);
  handshakes.add('state="running"', g.grpcHandshakes.running);
  handshakes.add('state="queued"', g.grpcHandshakes.queued);
  const failures = new Family(METRICS.authFailures);
  for (const api of ['grpc', 'http', 'agent'] as const) failures.add(`api="${api}"`, g.authFailures[api]);
  const one = (def: (typeof METRICS)[keyof typeof METRICS], v: number) => {
    const f = new Family(def);
    f.add('', v);
    return f.text();
  };
  const disconnected = new Family(METRICS.eventWatchersDisconnected);
  for (const reason of ['too_slow', 'behind'] as const) disconnected.add(`reason="${reason}"`, g.watchersDisconnected[reason]);
  const agents = new Family(METRICS.agentLimitRefusals);
  agents.add('reason="reconnects"', g.agentConnectsRefused);
  agents.add('reason="messages"', g.agentStreamsEnded);
  const pending = new Family(METRICS.historyPending);
  const dropped = new Family(METRICS.historyDropped);
  for (const log of ['events', 'audit'] as const) {
    pending.add(`log="${log}"`, g.history[log].pending);
    dropped.add(`log="${log}"`, g.history[log].dropped);
  }
  return (
    open.text() +
    refused.text() +
    handshakes.text() +
    one(METRICS.grpcHandshakeSlotsTimedOut, g.grpcHandshakes.slotsTimedOut) +
    one(METRICS.grpcHandshakesStarted, g.grpcHandshakes.started) +
    failures.text() +
    one(METRICS.authThrottled, g.authThrottled) +
    one(METRICS.authThrottledAddresses, g.authThrottledAddresses) +
    one(METRICS.apiRateLimited, g.rateLimited) +
    one(METRICS.eventWatchers, g.eventWatchers) +
    disconnected.text() +
    agents.text() +
    pending.text() +
    dropped.text()
  );
}
