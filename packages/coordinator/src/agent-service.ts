// gRPC adapter for AgentService.Connect: one bidirectional stream per agent.
// Wire messages are converted with @lbha/shared's wire module; everything else happens in the registry.
import { randomUUID } from 'node:crypto';
import { status, type ServerDuplexStream, type ServerUnaryCall } from '@grpc/grpc-js';
import {
  commandResultFromWire,
  commandToWire,
  deltaFromWire,
  desiredStateToWire,
  helloFromWire,
  nameProblem,
  PROTOCOL_VERSION,
  snapshotFromWire,
  WireError,
  type AgentHello,
  type AgentServiceServer,
  type ConnectRequest,
  type ConnectResponse,
  type Logger,
  type pbAgent,
} from '@lbha/shared';
import type { WatchedConnection, ConnectionLiveness } from './connection-liveness.js';
import { ConnectionClosedError } from './errors.js';
import { FORWARDED_BY } from './etcd/forwarded-identity.js';
import { RateLimiter } from './limits/rate-limiter.js';
import type { AgentSession, Registry } from './registry.js';

type AgentCall = ServerDuplexStream<ConnectRequest, ConnectResponse>;

export interface AgentServiceOptions {
  readonly registry: Registry;
  readonly logger: Logger;
  readonly coordinatorId: string;
  readonly heartbeatIntervalMs: number;
  readonly staleAfterMs: number;
  /**
   * The interval a stream whose liveness comes from the connection is told instead of
   * `heartbeatIntervalMs` (its agent PINGs that often; pingIntervalMs in connection-liveness.ts).
   * Default: `heartbeatIntervalMs`.
   */
  readonly pingIntervalMs?: number;
  /** How long a new stream may take to send its Hello. */
  readonly helloTimeoutMs?: number;
  /**
   * Decides whether the peer may speak for the node it claims (mTLS identity and role).
   * Returns a refusal reason, or undefined to accept.
   */
  readonly authorize?: (call: AgentCall, hello: AgentHello) => string | undefined;
  /** The cluster the spec puts a node in (undefined: not in the spec); a Hello must agree. */
  readonly specClusterOf?: (node: string) => string | undefined;
  /** No TLS: nothing proves an agent's identity, so a live session is harder to take over (AttachOptions). */
  readonly plaintext?: boolean;
  /** Streams one node's agent may open within a minute (default 60); a reconnect loop is refused beyond. */
  readonly connectsPerMinute?: number;
  /** Messages per second on one stream (default 100, bursts of ten times that); beyond, the stream is ended. */
  readonly messagesPerSecond?: number;
  /**
   * Liveness from the connection (connection-liveness.ts): the byte counter of the connection a
   * stream came in on, when it is the agent's own (not a unix socket, not a stream another
   * coordinator relays), or 'relayed' when the coordinator relaying the stream reports the
   * agent's liveness (ReportRelayedLiveness). Such a stream's Welcome tells the agent it may
   * ping instead of sending Heartbeat messages; `liveness` watches the counter while it lasts.
   */
  readonly livenessOf?: (call: AgentCall) => WatchedConnection | 'relayed' | undefined;
  readonly liveness?: ConnectionLiveness;
  /** Whether the caller of ReportRelayedLiveness may report (with TLS: a coordinator); default yes. */
  readonly mayReportLiveness?: (call: ServerUnaryCall<pbAgent.ReportRelayedLivenessRequest, pbAgent.ReportRelayedLivenessResponse>) => boolean;
}

/** Counts of what the agent limits refused (the service adds to them). */
export interface AgentLimitStats {
  connectsRefused: number;
  streamsEnded: number;
}

function fail(call: AgentCall, code: status, details: string): void {
  call.emit('error', { code, details });
}

export function createAgentService(opts: AgentServiceOptions, stats: AgentLimitStats = { connectsRefused: 0, streamsEnded: 0 }): AgentServiceServer {
  const { registry, logger } = opts;
  const helloTimeoutMs = opts.helloTimeoutMs ?? 10_000;
  const perMinute = opts.connectsPerMinute ?? 60;
  const connects = new RateLimiter(perMinute / 60, perMinute);
  const messagesPerSecond = opts.messagesPerSecond ?? 100;
  /** Streams whose liveness the relaying coordinator reports: session id -> node. */
  const relayed = new Map<string, string>();
  /**
   * When each reporter (the relaying coordinator or front, by its lbha-forwarded-by) last
   * reported: a relayed agent's silence is judged as of then (Registry.judgeBy), so that a
   * report that arrives late (a front busy with handshakes) does not make its agents stale.
   */
  const reportedAt = new Map<string, number>();

  return {
    connect(call: AgentCall) {
      const sessionId = randomUUID();
      const peer = call.getPeer();
      let node: string | undefined;
      // One agent stream may not keep the loop busy: its messages have a budget of their own.
      const messages = new RateLimiter(messagesPerSecond, messagesPerSecond * 10);
      let ended = false;
      const helloTimer = setTimeout(() => {
        logger.warn({ event: 'agent.hello_timeout', peer }, 'agent stream sent no Hello in time');
        fail(call, status.DEADLINE_EXCEEDED, `no Hello within ${helloTimeoutMs}ms`);
      }, helloTimeoutMs);

      const write = (msg: ConnectResponse) => {
        if (!ended && !call.writableEnded) call.write(msg);
      };
      const session: AgentSession = {
        id: sessionId,
        peer,
        sendDesiredState: (d) => write({ msg: { $case: 'desiredState', value: desiredStateToWire(d) } }),
        sendCommand: (c) => write({ msg: { $case: 'command', value: commandToWire(c) } }),
        close: (reason) => {
          if (ended) return;
          logger.info({ event: 'agent.session_closed', node, peer, reason }, 'closing agent stream');
          fail(call, status.ABORTED, reason);
        },
      };

      const onHello = (req: NonNullable<ConnectRequest['msg']> & { $case: 'hello' }) => {
        clearTimeout(helloTimer);
        const hello = helloFromWire(req.value, 'hello');
        const problem =
          nameProblem(hello.node) ? `hello.node: ${nameProblem(hello.node)}` : nameProblem(hello.cluster) ? `hello.cluster: ${nameProblem(hello.cluster)}` : undefined;
        if (problem) return fail(call, status.INVALID_ARGUMENT, problem);
        if (hello.protocol !== PROTOCOL_VERSION) {
          return fail(call, status.FAILED_PRECONDITION, `hello.protocol: agent speaks ${hello.protocol}, coordinator speaks ${PROTOCOL_VERSION}`);
        }
        const refusal = opts.authorize?.(call, hello);
        if (refusal) {
          logger.warn({ event: 'agent.refused', node: hello.node, peer, reason: refusal }, 'agent refused');
          return fail(call, status.PERMISSION_DENIED, refusal);
        }
        const waitMs = connects.take(hello.node);
        if (waitMs > 0) {
          stats.connectsRefused++;
          return fail(call, status.RESOURCE_EXHAUSTED, `node ${hello.node} opened more than ${perMinute} streams in a minute; retry in ${Math.ceil(waitMs / 1000)}s`);
        }
        const specCluster = opts.specClusterOf?.(hello.node);
        if (specCluster !== undefined && specCluster !== hello.cluster) {
          const refusal = `hello.cluster: node ${hello.node} is in cluster ${specCluster} in the cluster spec, not ${hello.cluster}`;
          logger.warn({ event: 'agent.refused', node: hello.node, peer, reason: refusal }, 'agent refused');
          return fail(call, status.PERMISSION_DENIED, refusal);
        }
        const outcome = registry.attach(hello, session, { samePeerHost: opts.plaintext ?? false });
        if (!outcome.ok) {
          logger.warn({ event: 'agent.duplicate', node: hello.node, peer }, outcome.reason);
          return fail(call, status.ALREADY_EXISTS, outcome.reason);
        }
        node = hello.node;
        const source = opts.liveness ? opts.livenessOf?.(call) : undefined;
        if (source === 'relayed') {
          relayed.set(sessionId, node);
          const reporter = reporterOf(call);
          if (reporter !== undefined) registry.judgeBy(node, sessionId, () => reportedAt.get(reporter));
        }
        else if (source) opts.liveness?.watch(node, sessionId, source);
        logger.info({ event: 'agent.connected', node, cluster: hello.cluster, peer, version: hello.agentVersion, liveness: source === undefined ? 'heartbeat' : source === 'relayed' ? 'relayed' : 'connection' }, 'agent connected');
        write({
          msg: {
            $case: 'welcome',
            value: {
              coordinatorId: opts.coordinatorId,
              sessionId,
              // The sign of life asked for: a PING that often, or else a Heartbeat message.
              heartbeatIntervalMs: source === undefined ? opts.heartbeatIntervalMs : (opts.pingIntervalMs ?? opts.heartbeatIntervalMs),
              staleAfterMs: opts.staleAfterMs,
              serverTimeMs: Date.now(),
              livenessFromConnection: source !== undefined,
            },
          },
        });
        for (const r of hello.recentResults) registry.recordCommandResult(node, sessionId, r);
      };

      call.on('data', (req: ConnectRequest) => {
        if (messages.take('stream') > 0) {
          if (ended) return;
          stats.streamsEnded++;
          logger.warn({ event: 'agent.too_chatty', node, peer, limit: messagesPerSecond }, 'agent stream ended: too many messages');
          return fail(call, status.RESOURCE_EXHAUSTED, `the agent sends more than ${messagesPerSecond} messages a second; reconnect`);
        }
        try {
          const m = req.msg;
          if (!m) throw new WireError('msg', 'empty message');
          if (m.$case === 'hello') {
            if (node) throw new WireError('hello', 'sent twice on one stream');
            return onHello(m);
          }
          if (!node) throw new WireError('msg', `expected hello first, got ${m.$case}`);
          switch (m.$case) {
            case 'snapshot':
              return registry.setSnapshot(node, sessionId, snapshotFromWire(m.value.state, 'snapshot.state'));
            case 'delta':
              return registry.applyDelta(node, sessionId, deltaFromWire(m.value, 'delta'));
            case 'heartbeat':
            case 'pong':
              return registry.touch(node, sessionId);
            case 'desiredStateAck':
              return registry.recordAck(node, sessionId, m.value.version, m.value.accepted, m.value.error);
            case 'commandResult':
              return registry.recordCommandResult(node, sessionId, commandResultFromWire(m.value, 'commandResult'));
          }
        } catch (err) {
          if (err instanceof WireError) {
            logger.warn({ event: 'agent.bad_message', node, peer, err: err.message }, 'malformed message from agent');
            return fail(call, status.INVALID_ARGUMENT, err.message);
          }
          if (err instanceof ConnectionClosedError) {
            // Nobody is left to answer: refused, not an error of the coordinator's.
            logger.debug({ event: 'agent.connection_closed', node, peer }, 'agent stream refused: its connection closed before the Hello was handled');
            return fail(call, status.UNAVAILABLE, 'the connection closed before the Hello was handled; reconnect');
          }
          logger.error({ event: 'agent.handler_error', node, peer, err }, 'error handling agent message');
          return fail(call, status.INTERNAL, 'internal error');
        }
      });

      const finish = (reason: string) => {
        if (ended) return;
        ended = true;
        clearTimeout(helloTimer);
        if (node) {
          opts.liveness?.unwatch(sessionId);
          if (relayed.delete(sessionId)) registry.judgeBy(node, sessionId, undefined);
          registry.detach(node, sessionId, reason);
          logger.info({ event: 'agent.disconnected', node, peer, reason }, 'agent stream ended');
        }
      };
      call.on('end', () => {
        finish('agent closed the stream');
        if (!call.writableEnded) call.end();
      });
      call.on('cancelled', () => finish('stream cancelled'));
      call.on('error', () => finish('stream error'));
      call.on('close', () => finish('stream closed'));
    },

    reportRelayedLiveness(call, callback) {
      if (opts.mayReportLiveness && !opts.mayReportLiveness(call)) {
        return callback({ code: status.PERMISSION_DENIED, details: "only a coordinator may report relayed agents' liveness" });
      }
      let touched = 0;
      const reporter = reporterOf(call);
      if (reporter !== undefined) reportedAt.set(reporter, registry.now());
      for (const s of call.request.sessions) {
        // Only streams relayed with that promise: a report never keeps a direct stream fresh.
        if (relayed.get(s.sessionId) !== s.node) continue;
        registry.touch(s.node, s.sessionId);
        touched++;
      }
      callback(null, { touched });
    },
  };
}

/** Who relays a stream or sends a liveness report (its lbha-forwarded-by), if it says. */
function reporterOf(call: { readonly metadata: { get(key: string): unknown[] } }): string | undefined {
  const v = call.metadata.get(FORWARDED_BY)[0];
  return typeof v === 'string' && v !== '' ? v : undefined;
}
