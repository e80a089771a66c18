// The agent's one long-lived stream to the coordinator: Hello, Snapshot, then Deltas and
// Heartbeats (or, when the coordinator takes liveness from the connection, HTTP/2 PINGs); Desired states and Commands come back. Reconnects with jittered exponential
// backoff (reconnect-delay.ts) across the configured addresses and resends the snapshot each time.
import { status, type ChannelCredentials, type ClientDuplexStream } from '@grpc/grpc-js';
import {
  AgentServiceClient,
  commandFromWire,
  commandResultToWire,
  deltaToWire,
  desiredStateFromWire,
  helloToWire,
  PROTOCOL_VERSION,
  AGENT_CAPABILITIES,
  snapshotToWire,
  WireError,
  type CommandResult,
  type ConnectRequest,
  type ConnectResponse,
  type Logger,
} from '@lbha/shared';
import { AttemptCredentials } from './attempt-credentials.js';
import type { AgentStateSource, CoordinatorHandler } from './ports.js';
import { DEFAULT_BACKOFF, reconnectDelayMs, type BackoffPolicy, type StreamEnding } from './reconnect-delay.js';

/**
 * How often the connection PINGs until a coordinator's Welcome says otherwise (and the heartbeat
 * interval should a Welcome name none): what a coordinator with the default heartbeat settings
 * asks of an agent that pings (heartbeat.ping, half its 3.5 s stale deadline). A coordinator that
 * asks for more (an older one, 1 s) gets Heartbeat messages on this first connection and PINGs as
 * often as it asked from the next.
 */
export const DEFAULT_PING_MS = 1750;

export interface StreamClientOptions {
  readonly addresses: readonly string[];
  readonly credentials: ChannelCredentials;
  readonly channelOptions?: Record<string, string | number>;
  readonly node: string;
  readonly cluster: string;
  readonly agentVersion: string;
  readonly bootId: string;
  readonly source: AgentStateSource;
  readonly handler: CoordinatorHandler;
  readonly logger: Logger;
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  /** Largest reconnect delay while the coordinator cannot be reached (see reconnect-delay.ts). */
  readonly backoffMaxUnreachableMs?: number;
  /**
   * How often the first connection sends an HTTP/2 PING (unless channelOptions sets
   * grpc.keepalive_time_ms), until a coordinator's Welcome says otherwise; default DEFAULT_PING_MS.
   */
  readonly heartbeatIntervalMs?: number;
  /** For tests: replaces Math.random in the backoff jitter. */
  readonly random?: () => number;
}

/** Lifecycle: idle -> connecting -> connected -> (stream ends) -> backoff -> connecting ... -> stopped. */
export type StreamClientState = 'idle' | 'connecting' | 'connected' | 'backoff' | 'stopped';

type Call = ClientDuplexStream<ConnectRequest, ConnectResponse>;

export class StreamClient {
  private state: StreamClientState = 'idle';
  private client: AgentServiceClient | undefined;
  /** The current attempt's credentials: closed with its channel, so that the channel connects no more. */
  private attemptCredentials: AttemptCredentials | undefined;
  private call: Call | undefined;
  private attempt = 0;
  private addressIndex = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private heartbeatSeq = 0;
  /** The heartbeat interval the last Welcome gave. */
  private toldIntervalMs: number | undefined;
  /** How the coordinator of the current stream learns that this agent is alive (set by its Welcome). */
  liveness: 'connection' | 'heartbeat' | undefined;
  /** Command results not yet delivered; flushed after every (re)connect. */
  private readonly undelivered = new Map<string, CommandResult>();
  private readonly stateListeners = new Set<(s: StreamClientState) => void>();
  private readonly backoff: BackoffPolicy;

  constructor(private readonly opts: StreamClientOptions) {
    if (opts.addresses.length === 0) throw new Error('StreamClient needs at least one address');
    this.backoff = {
      initialMs: opts.backoffInitialMs ?? DEFAULT_BACKOFF.initialMs,
      maxMs: opts.backoffMaxMs ?? DEFAULT_BACKOFF.maxMs,
      maxUnreachableMs: opts.backoffMaxUnreachableMs ?? DEFAULT_BACKOFF.maxUnreachableMs,
    };
  }

  get currentState(): StreamClientState {
    return this.state;
  }

  /** The coordinator address of the current stream (or of the next attempt while not connected). */
  get currentAddress(): string {
    return this.opts.addresses[this.addressIndex % this.opts.addresses.length] as string;
  }

  onStateChange(listener: (s: StreamClientState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  private setState(s: StreamClientState): void {
    if (this.state === s) return;
    this.state = s;
    for (const l of this.stateListeners) l(s);
  }

  start(): void {
    if (this.state !== 'idle') return;
    this.connect();
  }

  async stop(): Promise<void> {
    this.setState('stopped');
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.teardown();
  }

  /** Delay before the next attempt after a stream ended this way (reconnect-delay.ts). */
  nextDelayMs(attempt: number, ending: StreamEnding): number {
    return reconnectDelayMs(this.backoff, ending, attempt, this.opts.random ?? Math.random);
  }

  private send(msg: ConnectRequest): void {
    const call = this.call;
    if (call && !call.writableEnded && !call.destroyed) call.write(msg);
  }

  private connect(): void {
    if (this.state === 'stopped') return;
    this.setState('connecting');
    const address = this.opts.addresses[this.addressIndex % this.opts.addresses.length] as string;
    const log = this.opts.logger;
    const pingMs = this.pingIntervalMs();
    this.attemptCredentials = new AttemptCredentials(this.opts.credentials);
    this.client = new AgentServiceClient(address, this.attemptCredentials, {
      // The keepalive PINGs are the agent's sign of life to a coordinator that takes liveness
      // from the connection (Welcome.liveness_from_connection): sent from this process's event
      // loop every heartbeat interval, so an agent whose loop is stuck goes silent.
      'grpc.keepalive_time_ms': pingMs,
      'grpc.keepalive_timeout_ms': 3_000,
      'grpc.keepalive_permit_without_calls': 1,
      // grpc-js's own reconnects never serve this attempt (a failed connection fails the call,
      // and the next attempt is reconnect-delay.ts's, on a new channel); its backoff only times
      // the one reconnect it still makes after a failure, which the closed attempt's credentials
      // refuse. 2 s (1.6 at the least, with its jitter) is ample for the attempt to be closed by
      // then, even in a process whose event loop lags: a reconnect let through before would reach a
      // coordinator that has just started listening, and be closed again unused.
      'grpc.initial_reconnect_backoff_ms': 2_000,
      'grpc.max_reconnect_backoff_ms': 2_000,
      // A subchannel of its own for each attempt: grpc-js otherwise shares subchannels between
      // channels to the same address, and a new attempt would inherit the last one's connection
      // backoff (failing at once, without a SYN) instead of connecting when reconnect-delay.ts says.
      'grpc.use_local_subchannel_pool': 1,
      // No channelz: nothing reads it (the agent serves no channelz service), and with it on each
      // channel, subchannel and socket keeps a trace of its events and counts every message and
      // PING, for as long as the agent runs.
      'grpc.enable_channelz': 0,
      ...this.opts.channelOptions,
    });
    const call = this.client.connect();
    this.call = call;
    let welcomed = false;

    call.on('data', (res: ConnectResponse) => {
      try {
        const m = res.msg;
        if (!m) throw new WireError('msg', 'empty message');
        switch (m.$case) {
          case 'welcome': {
            welcomed = true;
            this.attempt = 0;
            const intervalMs = m.value.heartbeatIntervalMs || this.opts.heartbeatIntervalMs || DEFAULT_PING_MS;
            this.toldIntervalMs = m.value.heartbeatIntervalMs || undefined;
            // Heartbeat messages only when the coordinator needs them, or wants a sign of life
            // more often than this connection PINGs (the next connection PINGs as often as told).
            this.liveness = m.value.livenessFromConnection && pingMs <= intervalMs ? 'connection' : 'heartbeat';
            this.setState('connected');
            this.send({ msg: { $case: 'snapshot', value: { state: snapshotToWire(this.opts.source.snapshot()) } } });
            this.unsubscribe?.();
            this.unsubscribe = this.opts.source.onDelta((d) => this.send({ msg: { $case: 'delta', value: deltaToWire(d) } }));
            for (const r of this.undelivered.values()) this.send({ msg: { $case: 'commandResult', value: commandResultToWire(r) } });
            this.undelivered.clear();
            if (this.liveness === 'connection') this.stopHeartbeat();
            else this.startHeartbeat(intervalMs);
            log.info(
              { event: 'stream.connected', address, coordinator: m.value.coordinatorId, session: m.value.sessionId, liveness: this.liveness, pingMs },
              'connected to coordinator',
            );
            return;
          }
          case 'desiredState': {
            const desired = desiredStateFromWire(m.value, 'desiredState');
            void this.opts.handler.applyDesiredState(desired).then(
              (outcome) =>
                this.send({
                  msg: {
                    $case: 'desiredStateAck',
                    value: { version: desired.version, accepted: outcome.accepted, error: outcome.accepted ? '' : outcome.error },
                  },
                }),
              (err: unknown) =>
                this.send({ msg: { $case: 'desiredStateAck', value: { version: desired.version, accepted: false, error: String((err as Error).message ?? err) } } }),
            );
            return;
          }
          case 'command': {
            const command = commandFromWire(m.value, 'command');
            this.opts.handler.runCommand(command, (result) => this.report(result));
            return;
          }
          case 'ping':
            this.send({ msg: { $case: 'pong', value: { seq: m.value.seq } } });
            return;
        }
      } catch (err) {
        // A message we cannot understand: say so and drop the stream; the reconnect starts clean.
        log.error({ event: 'stream.bad_message', err: (err as Error).message }, 'malformed message from coordinator');
        call.cancel();
      }
    });

    call.on('error', (err: Error & { code?: number; details?: string }) => {
      log.warn({ event: 'stream.error', address, code: err.code, details: err.details ?? err.message, welcomed }, 'stream to coordinator failed');
      // UNAVAILABLE: no connection, or it broke. A welcomed stream that ends otherwise (the
      // coordinator shutting down) is retried as soon; any other answer is the coordinator's refusal.
      const unreachable = err.code === status.UNAVAILABLE || (welcomed && err.code !== status.RESOURCE_EXHAUSTED);
      this.onStreamEnd(welcomed, unreachable ? 'unreachable' : 'refused');
    });
    call.on('end', () => this.onStreamEnd(welcomed, 'unreachable'));

    this.send({
      msg: {
        $case: 'hello',
        value: helloToWire({
          node: this.opts.node,
          cluster: this.opts.cluster,
          agentVersion: this.opts.agentVersion,
          bootId: this.opts.bootId,
          protocol: PROTOCOL_VERSION,
          appliedVersion: this.opts.source.appliedVersion(),
          recentResults: this.opts.source.recentResults(),
          capabilities: AGENT_CAPABILITIES,
        }),
      },
    });
  }

  private report(result: CommandResult): void {
    if (this.state === 'connected') this.send({ msg: { $case: 'commandResult', value: commandResultToWire(result) } });
    else this.undelivered.set(result.commandId, result);
  }

  /**
   * How often a new connection PINGs the coordinator (grpc-js keepalive): as often as the last
   * Welcome asked for heartbeats, or the configured heartbeat interval before any Welcome.
   */
  private pingIntervalMs(): number {
    const configured = this.opts.channelOptions?.['grpc.keepalive_time_ms'];
    return typeof configured === 'number' ? configured : (this.toldIntervalMs ?? this.opts.heartbeatIntervalMs ?? DEFAULT_PING_MS);
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  private startHeartbeat(intervalMs: number): void {
    this.stopHeartbeat();
    this.heartbeatTimer = setInterval(() => {
      this.send({ msg: { $case: 'heartbeat', value: { seq: ++this.heartbeatSeq, sentMs: Date.now() } } });
    }, intervalMs);
  }

  private teardown(): void {
    this.stopHeartbeat();
    this.liveness = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    const call = this.call;
    this.call = undefined;
    if (call) {
      call.removeAllListeners('data');
      call.on('error', () => {});
      call.cancel();
    }
    this.client?.close();
    this.client = undefined;
    // After the close: a subchannel the channel left in TRANSIENT_FAILURE would otherwise
    // connect once more when its backoff ends (attempt-credentials.ts).
    this.attemptCredentials?.close();
    this.attemptCredentials = undefined;
  }

  private onStreamEnd(welcomed: boolean, ending: StreamEnding): void {
    if (this.state === 'stopped' || this.state === 'backoff') return;
    this.teardown();
    if (!welcomed) this.addressIndex++;
    const delay = this.nextDelayMs(this.attempt++, ending);
    this.setState('backoff');
    this.opts.logger.info({ event: 'stream.reconnect_scheduled', delayMs: delay, attempt: this.attempt, ending }, 'reconnecting to coordinator');
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}
