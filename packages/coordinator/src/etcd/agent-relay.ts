// Agent streams with several coordinators: an agent may connect to any of them. The leader
// serves the stream itself; a follower relays it, message for message, to the leader, so the
// leader's registry sees every agent and only the leader ever pushes. With no leader (election
// in progress, etcd down) the stream is served locally in observe-only mode: state is recorded,
// nothing is pushed. A follower that reads its agents' connections reports their liveness to
// the leader in one call per interval (connection-liveness.ts), so relayed agents, like direct
// ones, send PINGs instead of Heartbeat messages; the leader judges their silence as of this
// coordinator's last report (Registry.judgeBy). The relay, a follower's as a front process's
// (fronts/front-main.ts), takes the stream's messages as bytes: it decodes the Hello and the
// Welcome, and passes every other message on as the bytes it received, never decoding or
// encoding it. A stream served here is decoded and encoded as grpc-js would (typedCall).
//
// A follower's relayed stream outlives a change of leader (keepForMs): when the leader it was
// relayed to is gone (another is elected, or the leader's end of the stream ended with
// UNAVAILABLE, ABORTED or CANCELLED), the agent's stream stays open and its messages are held;
// the stream then opens at the next leader with the agent's Hello, the bytes first received,
// and the leader's Welcome goes to the agent, which answers any Welcome with its full state
// (every agent version does: stream-client.ts), so the new leader knows the agent as from a
// reconnect, without the agent's TLS handshake and backoff. When this coordinator is the next
// leader it serves the stream itself, the same way. See docs/design/etcd.md.
import type { Readable, Writable } from 'node:stream';
import { EventEmitter } from 'node:events';
import { Metadata, status, type ChannelCredentials, type ClientDuplexStream, type handleBidiStreamingCall, type ServerDuplexStream, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { AgentServiceClient, AgentServiceService, ConnectRequest, ConnectResponse, type AgentServiceServer, type Logger } from '@lbha/shared';
import type { AuthContext } from '../auth/auth-context.js';
import { ConnectionLiveness, type WatchedConnection } from '../connection-liveness.js';
import { ConnectionClosedError } from '../errors.js';
import type { Registry } from '../registry.js';
import { adoptForwardedCaller, FORWARDED_BY, FORWARDED_CERT, FORWARDED_FOR, FORWARDED_IDENTITY, peerCertificate, RELAY_LIVENESS } from './forwarded-identity.js';
import type { LeaderInfo, Leadership } from './leadership.js';

type AgentCall = ServerDuplexStream<ConnectRequest, ConnectResponse>;
/** An agent stream whose messages are the bytes received (AGENT_SERVICE_AS_BYTES). */
export type AgentBytesCall = ServerDuplexStream<Buffer, Buffer>;

/** AgentService served on AGENT_SERVICE_AS_BYTES. */
export interface AgentBytesServer extends UntypedServiceImplementation {
  connect: handleBidiStreamingCall<Buffer, Buffer>;
  reportRelayedLiveness: AgentServiceServer['reportRelayedLiveness'];
}

const same = (b: Buffer): Buffer => b;

/**
 * AgentService with Connect's messages left as bytes: grpc-js hands the handler each message as
 * received (its length and compression undone, its size checked against the server's limit) and
 * sends what it is given as is. ReportRelayedLiveness stays typed.
 */
export const AGENT_SERVICE_AS_BYTES: ServiceDefinition = {
  connect: { ...AgentServiceService.connect, requestSerialize: same, requestDeserialize: same, responseSerialize: same, responseDeserialize: same },
  reportRelayedLiveness: AgentServiceService.reportRelayedLiveness,
};

/** Bytes that do not decode are not this relay's to refuse: they go on, and the leader refuses them. */
function decoded<T>(decode: (b: Buffer) => T, b: Buffer): T | undefined {
  try {
    return decode(b);
  } catch {
    return undefined;
  }
}

/** The node a Hello (the stream's first message) names; undefined for anything else. */
function helloNode(b: Buffer): string | undefined {
  const m = decoded(ConnectRequest.decode, b)?.msg;
  return m?.$case === 'hello' ? m.value.node : undefined;
}

/** A Welcome's session and whether the leader takes the agent's liveness from this coordinator; undefined for anything else. */
function welcomeOf(b: Buffer): { readonly sessionId: string; readonly livenessFromConnection: boolean } | undefined {
  const m = decoded(ConnectResponse.decode, b)?.msg;
  return m?.$case === 'welcome' ? m.value : undefined;
}

/**
 * The bytes call `call` as the typed call the coordinator's own AgentService takes: each message
 * decoded as it arrives and each answer encoded as it leaves, the work grpc-js does for a call
 * of AgentServiceService. A message that does not decode ends the stream as grpc-js ends it
 * (INTERNAL) and reaches nobody.
 */
export function typedCall(call: AgentBytesCall): AgentCall {
  const { requestDeserialize, responseSerialize } = AgentServiceService.connect;
  const push = call.push.bind(call);
  (call as { push: (chunk: unknown) => boolean }).push = (chunk) => {
    if (!Buffer.isBuffer(chunk)) return push(chunk);
    let m: ConnectRequest;
    try {
      m = requestDeserialize(chunk);
    } catch (err) {
      call.emit('error', { code: status.INTERNAL, details: `Error deserializing request: ${(err as Error).message}` });
      return false;
    }
    return push(m);
  };
  const write = call.write.bind(call) as (chunk: Buffer, ...rest: unknown[]) => boolean;
  (call as unknown as { write: (chunk: ConnectResponse, ...rest: unknown[]) => boolean }).write = (chunk, ...rest) =>
    write(responseSerialize(chunk), ...rest);
  return call as unknown as AgentCall;
}

/**
 * A relayed stream served here once this coordinator leads: the typed call the coordinator's
 * own AgentService takes, fed the stream's messages (its Hello again first) by deliver(), its
 * answers encoded onto the agent's stream. An error the service emits (how it ends a stream
 * with a status, as grpc-js takes it) goes to the agent's stream; the agent's stream's own
 * events come in through pass().
 */
class ServedHere extends EventEmitter {
  constructor(private readonly call: AgentBytesCall) {
    super();
  }

  get metadata(): Metadata {
    return this.call.metadata;
  }

  get writableEnded(): boolean {
    return this.call.writableEnded;
  }

  getPeer(): string {
    return this.call.getPeer();
  }

  getAuthContext(): ReturnType<AgentBytesCall['getAuthContext']> {
    return this.call.getAuthContext();
  }

  write(m: ConnectResponse): boolean {
    return this.call.write(AgentServiceService.connect.responseSerialize(m));
  }

  end(): void {
    this.call.end();
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'error') return this.call.emit('error', args[0]);
    return super.emit(event, ...args);
  }

  /** One of the agent's messages, as received; one that does not decode ends the stream as grpc-js would (INTERNAL). */
  deliver(b: Buffer): void {
    let m: ConnectRequest;
    try {
      m = AgentServiceService.connect.requestDeserialize(b);
    } catch (err) {
      this.call.emit('error', { code: status.INTERNAL, details: `Error deserializing request: ${(err as Error).message}` });
      return;
    }
    super.emit('data', m);
  }

  /** An event of the agent's stream (it ended, was cancelled, failed, closed). */
  pass(event: 'end' | 'cancelled' | 'error' | 'close', arg?: unknown): void {
    if (this.listenerCount(event) > 0) super.emit(event, arg);
  }
}

/**
 * Stops reading `from` while `to` holds more than it buffers (its write returned false) until it
 * drains: grpc-js then stops reading the stream, and HTTP/2's flow control holds its sender.
 */
function holdUntilDrained(from: Readable, to: Writable, held: { on: boolean }): void {
  if (held.on) return;
  held.on = true;
  from.pause();
  to.once('drain', () => {
    held.on = false;
    from.resume();
  });
}

export interface AgentRelayOptions {
  /** The coordinator's own AgentService implementation (serves streams locally). */
  readonly local: AgentServiceServer;
  readonly leadership: Leadership;
  readonly selfId: string;
  /** The local registry: its sessions are closed when another coordinator becomes leader. */
  readonly registry: Registry;
  /** Credentials this coordinator uses to dial the leader. */
  readonly credentials: ChannelCredentials;
  readonly channelOptions?: Record<string, string | number>;
  readonly logger: Logger;
  /** Called for every desired state or command held back because this coordinator is not the leader. */
  readonly onFencedPush?: (kind: 'desiredState' | 'command') => void;
  /**
   * Relayed streams one connection to the leader carries at most (default 128, the leader's
   * default `limits.streamsPerConnection`). The leader's HTTP/2 server refuses to open more
   * streams than that on one connection: beyond it, a stream would wait, unopened, until another
   * ends, and agent streams do not end. More streams open more connections.
   */
  readonly streamsPerChannel?: number;
  /**
   * The byte counter of the agent's own connection to this coordinator (undefined: none, e.g. a
   * unix socket). With it, relayed streams ask the leader to take their liveness from this
   * coordinator's reports, sent every `livenessIntervalMs` (default 1000).
   */
  readonly connectionOf?: (call: { metadata: Metadata; getPeer(): string }) => WatchedConnection | undefined;
  readonly livenessIntervalMs?: number;
  /** An agent's connection that reads nothing for this long is closed (default DEAD_CONNECTION_MS; connection-liveness.ts). */
  readonly deadConnectionMs?: number;
  /**
   * How long a relayed stream whose leader is gone may wait, open, for the next leader (see the
   * header); past it the stream ends and its agent reconnects. Undefined: such a stream ends at
   * once (a front's relay: its coordinator does not change).
   */
  readonly keepForMs?: number;
}

/** One connection to the leader and the relayed streams it carries. */
interface Upstream {
  readonly client: AgentServiceClient;
  streams: number;
}

interface Relay {
  /** The leader the stream is relayed to now; undefined while it waits for one. */
  readonly leader: LeaderInfo | undefined;
  /** Leadership changed: `target` is the coordinator to relay to now (undefined: this one leads, or nobody does). */
  reroute(target: LeaderInfo | undefined): void;
  /** Its turn to move (after reroute): to the leader named now, or served here, or it goes on waiting. */
  move(): void;
  end(code: status, details: string): void;
}

/**
 * How a leader's end of a relayed stream ends when the leader went away rather than refused the
 * agent: its connection broke or it shut down (UNAVAILABLE), it closed its sessions as it
 * shut down or stopped leading (ABORTED), the call was cancelled. Any other status is the
 * leader's answer to this agent, and ends the agent's stream with it.
 *
 * What the agent sent to a leader that had not welcomed the stream yet goes again to the next
 * leader, after the Hello: the one before may have taken it, and every message an agent sends is
 * one a leader may take twice without effect (a delta replaces entries, a snapshot all of them,
 * an ack raises a version, a command result sets a journal entry to the state it reports, a
 * Pong or Heartbeat touches; a Hello of the same boot id replaces the session it opened before).
 */
const LEADER_GONE: ReadonlySet<number> = new Set([status.UNAVAILABLE, status.ABORTED, status.CANCELLED]);
/** A stream whose leader's connection failed (UNAVAILABLE) tries the leader named then again after this long. */
const RETRY_MS = 1000;
/** Agent messages held while a stream waits for a leader before the agent's stream is paused (HTTP/2's flow control then holds the agent). */
const HOLD_MAX = 256;
/**
 * Streams moved per turn of the event loop after a change of leader: the rest wait, held, for
 * the next turn, so that a follower with thousands of streams neither serves their Hellos in one
 * go when it is the next leader nor sends them to the next leader all at once.
 */
const MOVES_PER_TURN = 64;

/** At most this many sessions of failed reports are kept to be named again. */
const MAX_UNREPORTED = 100_000;

/** Metadata that must not be copied onto the upstream call (hop by hop, or set here only). */
const HOP_HEADERS = new Set(['content-type', 'te', 'user-agent', 'grpc-timeout', 'grpc-encoding', 'grpc-accept-encoding', ':authority', 'host', FORWARDED_BY, FORWARDED_FOR, FORWARDED_CERT, FORWARDED_IDENTITY, RELAY_LIVENESS]);

/**
 * Metadata for a call this coordinator passes on to the leader: the caller's own metadata
 * (e.g. its bearer token), who forwards it, and the caller's certificate and identity, which
 * the leader honours only because this coordinator's certificate vouches for them.
 */
export function forwardedMetadata(call: { metadata: Metadata; getPeer(): string; getAuthContext?(): AuthContext | null }, selfId: string, identity?: string): Metadata {
  const md = new Metadata();
  for (const [k, v] of Object.entries(call.metadata.getMap())) {
    if (!HOP_HEADERS.has(k) && !k.startsWith('grpc-') && !k.startsWith(':')) md.set(k, v);
  }
  md.set(FORWARDED_BY, selfId);
  md.set(FORWARDED_FOR, call.getPeer());
  const cert = peerCertificate(call);
  if (cert) md.set(FORWARDED_CERT, cert);
  if (identity) md.set(FORWARDED_IDENTITY, identity);
  return md;
}

/**
 * AgentService for one coordinator of several. Routing is decided per stream when it opens and
 * revisited on every leadership change: a relayed stream moves to the next leader (keepForMs;
 * else it ends), and streams served here that now belong elsewhere are ended and their agents
 * reconnect (to the same address; each resends its snapshot, so nothing is lost).
 */
export class AgentRelay {
  private readonly relays = new Set<Relay>();
  /** Per leader address, its connections (each at most `streamsPerChannel` streams). */
  private readonly clients = new Map<string, Upstream[]>();
  private readonly unsubscribe: () => void;
  /** Relayed streams whose liveness this coordinator reports to the leader. */
  private readonly liveness: ConnectionLiveness;
  private readonly livenessTimer: NodeJS.Timeout | undefined;
  /** Reports sent to the leader, and sessions in them (for the benchmarks and tests). */
  readonly livenessReports = { calls: 0, sessions: 0, failed: 0 };
  /**
   * Relayed streams that outlived a change of leader: welcomed by the next leader (`moved`),
   * served here as this coordinator became the leader (`servedHere`), and ended after all
   * (`ended`: no leader in time, or the next one refused the agent).
   */
  readonly kept = { moved: 0, servedHere: 0, ended: 0 };
  /** Streams held after a change of leader, waiting for their turn to move (MOVES_PER_TURN). */
  private readonly toMove = new Set<Relay>();
  private movesScheduled = false;
  private closed = false;
  /** Sessions of reports that failed, named again in the next one. */
  private readonly unreported: { node: string; sessionId: string }[] = [];

  constructor(private readonly opts: AgentRelayOptions) {
    this.unsubscribe = opts.leadership.subscribe(() => this.reroute());
    this.liveness = new ConnectionLiveness(opts.deadConnectionMs);
    if (opts.connectionOf) {
      // After the loop's reads (setImmediate runs after its I/O): a timer that comes due while the
      // loop was busy (a front's handshakes) runs before the reads the busy time left queued, and
      // would report those connections silent and advance this reporter's clock past them.
      this.livenessTimer = setInterval(() => setImmediate(() => this.reportLiveness()), opts.livenessIntervalMs ?? 1000);
      this.livenessTimer.unref();
    }
  }

  /**
   * The AgentService implementation to register on the gRPC server, with `definition`: Connect's
   * messages come as bytes, relayed as they are or, served here, decoded (typedCall).
   */
  readonly service: AgentBytesServer = {
    connect: (call: AgentBytesCall) => {
      const target = this.target();
      this.routed(call, () => (target ? this.relay(call, target) : this.serveLocally(call)));
    },
    // Reports name sessions of this coordinator's own registry; on one that does not lead they
    // match no relayed session and touch nothing.
    reportRelayedLiveness: (call, callback) => this.opts.local.reportRelayedLiveness(call, callback),
  };

  readonly definition: ServiceDefinition = AGENT_SERVICE_AS_BYTES;

  /**
   * Connect for a front: relays the stream to the leader. A stream that cannot be relayed (no
   * leader, or this coordinator leads) is refused: a front serves nothing itself.
   */
  readonly connectBytes = (call: AgentBytesCall): void => {
    const target = this.target();
    this.routed(call, () => {
      if (target) this.relay(call, target);
      else call.emit('error', { code: status.UNAVAILABLE, details: 'no coordinator to relay the stream to; reconnect' });
    });
  };

  /** Runs `route`; a stream whose connection closed before it could be routed is refused, not an error. */
  private routed(call: { getPeer(): string; emit(event: 'error', e: unknown): boolean }, route: () => void): void {
    try {
      route();
    } catch (err) {
      if (!(err instanceof ConnectionClosedError)) throw err;
      this.opts.logger.debug({ event: 'agent.connection_closed', peer: call.getPeer() }, 'agent stream refused: its connection closed before it could be routed');
      call.emit('error', { code: status.UNAVAILABLE, details: 'the connection closed before the stream could be routed; reconnect' });
    }
  }

  /** Number of streams relayed to the leader right now. */
  get relayedStreams(): number {
    return this.relays.size;
  }

  /** Ends relays and closes upstream channels. */
  close(): void {
    this.closed = true;
    this.unsubscribe();
    clearInterval(this.livenessTimer);
    for (const r of this.relays) r.end(status.UNAVAILABLE, 'coordinator shutting down');
    for (const list of this.clients.values()) for (const u of list) u.client.close();
    this.clients.clear();
  }

  /**
   * One call to the leader naming every relayed agent whose connection read bytes since the
   * last report (and those of a report that failed), every interval while any is watched, even
   * naming none: the leader judges these agents' silence as of this coordinator's last report
   * (Registry.judgeBy), so a report that is late or lost does not make them stale, and one that
   * stops coming does within staleAfter.
   */
  private reportLiveness(): void {
    if (this.closed) return;
    const sessions = this.unreported.splice(0);
    this.liveness.sweep(
      Date.now(),
      (node, sessionId) => sessions.push({ node, sessionId }),
      (node) => this.opts.logger.warn({ event: 'agent.connection_dead', node }, 'closed an agent connection that read nothing for too long'),
    );
    const target = this.target();
    if (!target || (sessions.length === 0 && this.liveness.size === 0)) return;
    this.livenessReports.calls++;
    this.livenessReports.sessions += sessions.length;
    const deadline = Date.now() + 2 * (this.opts.livenessIntervalMs ?? 1000);
    const metadata = new Metadata();
    metadata.set(FORWARDED_BY, this.opts.selfId);
    this.channel(target.grpc).client.reportRelayedLiveness({ sessions }, metadata, { deadline }, (err) => {
      if (!err) return;
      this.livenessReports.failed++;
      // Named again in the next report (a session that ended since touches nothing there).
      if (this.unreported.length < MAX_UNREPORTED) this.unreported.push(...sessions.slice(0, MAX_UNREPORTED - this.unreported.length));
      this.opts.logger.warn({ event: 'relay.liveness_report_failed', leader: target.id, code: err.code, details: err.details }, "the leader did not take the relayed agents' liveness");
    });
  }

  /** The coordinator to relay to; undefined: serve here (we lead, or nobody does). */
  private target(): LeaderInfo | undefined {
    if (this.opts.leadership.isLeader()) return undefined;
    const leader = this.opts.leadership.leader();
    return leader && leader.id !== this.opts.selfId && leader.grpc ? leader : undefined;
  }

  private reroute(): void {
    const target = this.target();
    for (const r of this.relays) {
      if (r.leader === undefined || r.leader.id !== target?.id || r.leader.grpc !== target.grpc) r.reroute(target);
    }
    if (this.opts.keepForMs !== undefined) {
      for (const r of this.relays) if (r.leader === undefined) this.toMove.add(r);
      this.scheduleMoves();
    }
    if (target) {
      for (const n of this.opts.registry.list()) {
        n.session?.close(`coordinator ${target.id} is the leader now; reconnect to be relayed there`);
      }
    }
    for (const [address, list] of this.clients) {
      if (address !== target?.grpc) {
        for (const u of list) u.client.close();
        this.clients.delete(address);
      }
    }
  }

  /** Moves the held streams, MOVES_PER_TURN per turn of the loop. */
  private scheduleMoves(): void {
    if (this.movesScheduled || this.toMove.size === 0) return;
    this.movesScheduled = true;
    setImmediate(() => {
      this.movesScheduled = false;
      let n = 0;
      for (const r of this.toMove) {
        if (n++ >= MOVES_PER_TURN) break;
        this.toMove.delete(r);
        r.move();
      }
      this.scheduleMoves();
    });
  }

  private serveLocally(bytes: AgentBytesCall): void {
    // A stream relayed by a follower is authorised as the agent that opened it there. First, as
    // it throws when the stream's connection is gone already.
    adoptForwardedCaller(bytes);
    this.serveTyped(typedCall(bytes));
  }

  /** Serves `call` with the coordinator's own AgentService, its pushes gated on leadership. */
  private serveTyped(call: AgentCall): void {
    const { leadership, logger } = this.opts;
    const write = call.write.bind(call) as (chunk: ConnectResponse, ...rest: unknown[]) => boolean;
    let ending = false;
    // The last gate before bytes leave this process: whatever code path produced a push, a
    // coordinator that is not the leader (now, by its monotonic clock) does not send it.
    (call as { write: (chunk: ConnectResponse, ...rest: unknown[]) => boolean }).write = (chunk, ...rest) => {
      const kind = chunk.msg?.$case;
      if ((kind === 'desiredState' || kind === 'command') && !leadership.isLeader()) {
        logger.warn({ event: 'fencing.push_refused', kind, peer: call.getPeer() }, 'not the leader: push held back');
        this.opts.onFencedPush?.(kind);
        const leader = this.target();
        if (leader && !ending) {
          ending = true;
          queueMicrotask(() => call.emit('error', { code: status.UNAVAILABLE, details: `not the leader; ${leader.id} is` }));
        }
        return true;
      }
      return write(chunk, ...rest);
    };
    this.opts.local.connect(call);
  }

  /** Connections to the leader at `address` (a relay is also counted before its stream opens). */
  channels(address: string): readonly { readonly streams: number }[] {
    return this.clients.get(address) ?? [];
  }

  /** A connection to `address` with room for one more stream; a new one when all are full. */
  private channel(address: string): Upstream {
    const cap = Math.max(1, this.opts.streamsPerChannel ?? 128);
    let list = this.clients.get(address);
    if (!list) this.clients.set(address, (list = []));
    const free = list.find((u) => u.streams < cap);
    if (free) return free;
    const u: Upstream = {
      client: new AgentServiceClient(address, this.opts.credentials, {
        'grpc.keepalive_time_ms': 5_000,
        // A PING left unanswered drops the connection and every stream on it (up to `cap`), and
        // each opens again at the leader behind its queue of TLS handshakes. A leader that waits
        // seconds for its core (three coordinators on one core at 10,000 agents: 4 s at a time)
        // still holds its lease and serves the streams once it runs, and the answer may already
        // be in this process's socket, unread while it waited for its own turn (etcd-client.ts);
        // a leader that is gone loses its lease, and the election moves the streams. So the
        // answer is waited for as long as a stream waits for a next leader (keepForMs, twice the
        // lease TTL); 3 s for a front's relay, whose coordinator runs on its host.
        'grpc.keepalive_timeout_ms': this.opts.keepForMs ?? 3_000,
        'grpc.keepalive_permit_without_calls': 1,
        ...this.opts.channelOptions,
        // Its own connection: grpc-js would otherwise share one subchannel among channels to the same address.
        'grpc.use_local_subchannel_pool': 1,
      }),
      streams: 0,
    };
    list.push(u);
    return u;
  }

  /** A relay is over: its connection has room again; a connection left empty is closed unless it is the last. */
  private release(address: string, u: Upstream): void {
    u.streams--;
    const list = this.clients.get(address);
    if (!list || u.streams > 0 || list.length <= 1) return;
    const i = list.indexOf(u);
    if (i < 0) return;
    list.splice(i, 1);
    u.client.close();
  }

  /**
   * Relays `call` to `first` (the leader when it opened), its messages as bytes; with keepForMs,
   * on to each next leader while the agent's stream lasts (see the header).
   */
  private relay(call: AgentBytesCall, first: LeaderInfo): void {
    const { logger, selfId, keepForMs } = this.opts;
    const peer = call.getPeer();
    const counter = this.opts.connectionOf?.(call);
    let ended = false;
    /** The agent's node and Hello (the stream's first message, as received: sent again to each next leader). */
    let node: string | undefined;
    let hello: Buffer | undefined;
    /** The session whose liveness this coordinator reports (the leader's Welcome took it from here). */
    let watched: string | undefined;
    /** The stream to the leader now. */
    let up:
      | {
          readonly leader: LeaderInfo;
          readonly channel: Upstream;
          readonly stream: ClientDuplexStream<Buffer, Buffer>;
          readonly held: { on: boolean };
          welcomed: boolean;
          /** The agent's messages sent on it before its Welcome: held again should it end before one. */
          sent: Buffer[];
        }
      | undefined;
    /** Served here (this coordinator leads since). */
    let here: ServedHere | undefined;
    /** The agent's messages held while the stream waits for a leader (undefined: not waiting). */
    let held: Buffer[] | undefined;
    /**
     * Ends the wait for a leader. The wait counts only the time the stream had no leader to go to
     * (`waitedMs` so far, and since `waitingSince`): a leader that has the stream's Hello and is
     * slow to answer it (its loop busy with the fleet's state) is waited for as long as its end of
     * the stream lives, as an agent's own new stream would be. Reset once a leader welcomed it.
     */
    let waitTimer: NodeJS.Timeout | undefined;
    let waitedMs = 0;
    let waitingSince: number | undefined;
    let retryTimer: NodeJS.Timeout | undefined;
    /** The agent's stream stops being read while the leader's side holds more than it buffers. */
    const downHeld = { on: false };
    /** Whether the stream lost a leader since it opened (its next Welcome is a move). */
    let moving = false;

    const unwatch = () => {
      if (watched !== undefined) this.liveness.unwatch(watched);
      watched = undefined;
    };
    /** Leaves the leader's stream; what the agent sent on it before a Welcome goes back to the held messages (LEADER_GONE says why that is sound). */
    const dropUpstream = () => {
      const u = up;
      if (!u) return;
      up = undefined;
      if (!u.welcomed && u.sent.length > 0) held = [...u.sent, ...(held ?? [])];
      unwatch();
      this.release(u.leader.grpc, u.channel);
      u.stream.removeAllListeners('data');
      u.stream.on('error', () => undefined);
      u.stream.cancel();
      // Paused for that stream's buffer, which will not drain now.
      if (downHeld.on) {
        downHeld.on = false;
        call.resume();
      }
    };
    /** Stops the clock of the wait (a leader has the stream now); `welcomed`: the wait is over. */
    const stopWaiting = (welcomed = true) => {
      clearTimeout(waitTimer);
      clearTimeout(retryTimer);
      waitTimer = undefined;
      retryTimer = undefined;
      if (waitingSince !== undefined) waitedMs += performance.now() - waitingSince;
      waitingSince = undefined;
      if (welcomed) waitedMs = 0;
    };
    /** Stops relaying, once; false when it had stopped already. */
    const teardown = (): boolean => {
      if (ended) return false;
      ended = true;
      stopWaiting();
      dropUpstream();
      held = undefined;
      this.relays.delete(relay);
      return true;
    };
    const end = (code: status, details: string) => {
      if (moving) this.kept.ended++;
      if (teardown() && !call.writableEnded) call.emit('error', { code, details });
    };

    /** One of the agent's messages: to the leader, held for the next, or to the service here. */
    const deliver = (m: Buffer) => {
      if (held) {
        held.push(m);
        if (held.length >= HOLD_MAX) call.pause();
      } else if (here) here.deliver(m);
      else if (up) {
        if (!up.welcomed) up.sent.push(m);
        if (!up.stream.write(m)) holdUntilDrained(call, up.stream, downHeld);
      }
    };
    /** What the next leader gets first: the Hello (unless it is among the held messages), then what was held. */
    const takeHeld = (): Buffer[] => {
      const pending = held ?? [];
      held = undefined;
      call.resume();
      return hello !== undefined && moving && pending[0] !== hello ? [hello, ...pending] : pending;
    };

    /** Waits, the agent's messages held, for a leader (keepForMs at most without one, in all). */
    const wait = (code: status, details: string) => {
      held ??= [];
      waitingSince ??= performance.now();
      waitTimer ??= setTimeout(() => {
        logger.info({ event: 'relay.no_leader', peer, node, waitedMs: keepForMs }, 'relayed stream ended: no leader welcomed it in time');
        end(code, `${details}; no leader within ${keepForMs} ms, reconnect`);
      }, Math.max(0, (keepForMs ?? 0) - waitedMs));
      if (code === status.UNAVAILABLE) {
        clearTimeout(retryTimer);
        retryTimer = setTimeout(() => {
          retryTimer = undefined;
          if (!ended && held) move(this.target(), code, details);
        }, RETRY_MS);
      }
    };

    /** The stream goes to `target`, or is served here when this coordinator leads, or waits for a leader. */
    const move = (target: LeaderInfo | undefined, code: status, details: string) => {
      if (ended) return;
      moving = true;
      dropUpstream();
      if (target) attach(target);
      else if (this.opts.leadership.isLeader()) serveHere();
      else wait(code, details);
    };

    const serveHere = () => {
      const s = new ServedHere(call);
      here = s;
      stopWaiting();
      this.relays.delete(relay);
      this.kept.servedHere++;
      logger.debug({ event: 'relay.served_here', peer, node }, 'this coordinator leads now: serving the relayed stream itself');
      const pending = takeHeld();
      moving = false;
      this.serveTyped(s as unknown as AgentCall);
      for (const m of pending) s.deliver(m);
    };

    /** The leader's end of the stream ended with `code`: waits for the next leader when it went away; otherwise the agent's stream ends with it. */
    const leaderEnded = (from: LeaderInfo, code: status, details: string) => {
      if (keepForMs === undefined || !LEADER_GONE.has(code)) return end(code, `via ${selfId}: ${details}`);
      const target = this.target();
      // Another leader seen already, or this coordinator leads: there at once.
      if (target?.id !== from.id || target.grpc !== from.grpc) return move(target, code, details);
      dropUpstream();
      moving = true;
      wait(code, details);
    };

    const attach = (leader: LeaderInfo) => {
      let metadata: Metadata;
      try {
        // The first time outside the try's reach: it throws when the agent's connection is gone already (routed()).
        metadata = forwardedMetadata(call, selfId);
      } catch (err) {
        if (!(err instanceof ConnectionClosedError) || !moving) throw err;
        return end(status.UNAVAILABLE, "the agent's connection closed");
      }
      if (counter) metadata.set(RELAY_LIVENESS, '1');
      const channel = this.channel(leader.grpc);
      channel.streams++;
      const stream = channel.client.makeBidiStreamRequest(AgentServiceService.connect.path, same, same, metadata);
      const u = { leader, channel, stream, held: { on: false }, welcomed: false, sent: [] as Buffer[] };
      up = u;
      // A leader has the stream: its Welcome is waited for as long as its end lives.
      stopWaiting(false);
      this.relays.add(relay);
      logger.debug({ event: moving ? 'relay.moving' : 'relay.opened', peer, node, leader: leader.id }, moving ? 'relaying the agent stream to the next leader' : 'relaying agent stream to the leader');
      stream.on('data', (m: Buffer) => {
        if (up !== u) return;
        if (!u.welcomed) {
          // The leader's first message is its Welcome: the session, and whether it takes the agent's liveness from here.
          u.welcomed = true;
          u.sent = [];
          const welcome = welcomeOf(m);
          if (welcome) {
            if (moving) {
              moving = false;
              stopWaiting();
              this.kept.moved++;
              logger.debug({ event: 'relay.moved', peer, node, leader: leader.id }, 'relayed stream welcomed by the next leader');
            }
            if (counter && node !== undefined && welcome.livenessFromConnection) {
              watched = welcome.sessionId;
              this.liveness.watch(node, watched, counter);
            }
          }
        }
        if (!call.writableEnded && !call.write(m)) holdUntilDrained(stream, call, u.held);
      });
      stream.on('error', (err: Error & { code?: number; details?: string }) => {
        if (up !== u) return;
        logger.info({ event: 'relay.upstream_error', peer, leader: leader.id, code: err.code, details: err.details }, 'relayed stream ended by the leader');
        leaderEnded(leader, (err.code as status | undefined) ?? status.UNAVAILABLE, err.details ?? err.message);
      });
      stream.on('end', () => {
        if (up !== u || ended) return;
        ended = true;
        stopWaiting();
        unwatch();
        up = undefined;
        this.relays.delete(relay);
        this.release(leader.grpc, channel);
        if (!call.writableEnded) call.end();
      });
      for (const m of takeHeld()) deliver(m);
    };

    const relay: Relay = {
      get leader() {
        return up?.leader;
      },
      reroute: (target) => {
        if (ended || here) return;
        if (keepForMs === undefined) return end(status.UNAVAILABLE, target ? `leader moved to ${target.id}` : 'the leader is gone; reconnect');
        // Held now; moved in its turn (AgentRelay.scheduleMoves).
        dropUpstream();
        moving = true;
        wait(status.UNAVAILABLE, target ? `leader moved to ${target.id}` : 'the leader is gone');
      },
      move: () => {
        if (!ended && held) move(this.target(), status.UNAVAILABLE, 'the leader is gone');
      },
      end,
    };

    call.on('data', (m: Buffer) => {
      if (ended) return;
      if (hello === undefined) {
        hello = m;
        node = helloNode(m);
      }
      deliver(m);
    });
    call.on('end', () => {
      if (here) return here.pass('end');
      if (ended) return;
      if (up) up.stream.end();
      else {
        // The agent is done while the stream waited for a leader: nothing to hand its end to.
        teardown();
        call.end();
      }
    });
    const downstreamGone = (event: 'cancelled' | 'error' | 'close') => (arg?: unknown) => {
      if (here) return here.pass(event, arg);
      teardown();
    };
    call.on('cancelled', downstreamGone('cancelled'));
    call.on('error', downstreamGone('error'));
    call.on('close', downstreamGone('close'));

    attach(first);
  }
}
