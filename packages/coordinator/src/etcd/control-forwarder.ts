// ControlService with several coordinators: any coordinator answers, the leader decides. A
// follower forwards every call to the leader (the leader's registry holds every agent, its
// operations engine runs the drains), so the CLI may talk to any coordinator. With no leader,
// reads are answered locally and mutations fail with UNAVAILABLE: nothing changes while the
// store is unreachable.
//
// Two layers around the authorisation wrapper: inside it, `service` forwards calls the
// follower has authenticated, naming the caller; outside it, `acceptForwarded` lets the leader
// take that name from a coordinator (see forwarded-identity.ts).
import {
  Client,
  status,
  type ChannelCredentials,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceError,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { ControlServiceService, type ControlServiceServer, type Logger } from '@lbha/shared';
import { callerOf } from '../auth/control-authorization.js';
import { forwardedMetadata } from './agent-relay.js';
import { adoptForwardedCaller, encodeIdentity } from './forwarded-identity.js';
import type { LeaderInfo, Leadership } from './leadership.js';

type MethodName = keyof typeof ControlServiceService;

/** Calls that change state; refused when there is no leader. */
export const CONTROL_MUTATIONS: ReadonlySet<string> = new Set<MethodName>(['drain', 'undrain', 'restartService', 'reloadService', 'rollingRestart', 'cancelOperation', 'applySpec']);

export interface ControlForwarderOptions {
  readonly local: ControlServiceServer;
  readonly leadership: Leadership;
  readonly selfId: string;
  readonly credentials: ChannelCredentials;
  readonly channelOptions?: Record<string, string | number>;
  readonly logger: Logger;
  /**
   * How long a mutation waits for a leader when none is known (an election in progress, or
   * this coordinator just started) before it is refused. Default 0: refuse at once.
   */
  readonly waitForLeaderMs?: number;
}

type AnyUnary = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => void;
type AnyServerStream = (call: ServerWritableStream<unknown, unknown>) => void;

export class ControlForwarder {
  private readonly clients = new Map<string, Client>();
  readonly service: ControlServiceServer;

  constructor(private readonly opts: ControlForwarderOptions) {
    const out: Record<string, AnyUnary | AnyServerStream> = {};
    for (const [name, def] of Object.entries(ControlServiceService)) {
      const local = (opts.local as unknown as Record<string, AnyUnary | AnyServerStream>)[name];
      if (!local) continue;
      out[name] = def.responseStream ? this.serverStream(name, local as AnyServerStream) : this.unary(name, local as AnyUnary);
    }
    this.service = out as unknown as ControlServiceServer;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  /** Wraps the authorising service: calls forwarded by a coordinator are judged as their original caller. */
  static acceptForwarded(impl: ControlServiceServer): ControlServiceServer {
    const out: Record<string, unknown> = {};
    for (const [name, fn] of Object.entries(impl as unknown as Record<string, (call: object, ...rest: unknown[]) => void>)) {
      if (typeof fn !== 'function') continue;
      out[name] = (call: Parameters<typeof adoptForwardedCaller>[0], ...rest: unknown[]) => {
        adoptForwardedCaller(call, 'control');
        return fn.call(impl, call, ...rest);
      };
    }
    return out as unknown as ControlServiceServer;
  }

  private metadataFor(call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>) {
    const who = callerOf(call);
    return forwardedMetadata(call, this.opts.selfId, who ? encodeIdentity(who) : undefined);
  }

  private leaderElsewhere(): LeaderInfo | undefined {
    const { leadership, selfId } = this.opts;
    if (leadership.isLeader()) return undefined;
    const leader = leadership.leader();
    return leader && leader.id !== selfId && leader.grpc ? leader : undefined;
  }

  private client(address: string): Client {
    let c = this.clients.get(address);
    if (!c) {
      c = new Client(address, this.opts.credentials, this.opts.channelOptions);
      this.clients.set(address, c);
    }
    // Channels to former leaders are not needed any more.
    for (const [a, other] of this.clients) {
      if (a !== address) {
        other.close();
        this.clients.delete(a);
      }
    }
    return c;
  }

  /** Resolves once some coordinator leads (this one or another), or after `ms`. */
  private waitForLeader(ms: number): Promise<void> {
    const { leadership } = this.opts;
    if (ms <= 0 || leadership.isLeader() || this.leaderElsewhere()) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        resolve();
      };
      const timer = setTimeout(done, ms);
      const unsubscribe = leadership.subscribe(() => {
        if (leadership.isLeader() || this.leaderElsewhere()) done();
      });
    });
  }

  private unary(name: string, local: AnyUnary): AnyUnary {
    const def = ControlServiceService[name as MethodName];
    return async (call, callback) => {
      if (CONTROL_MUTATIONS.has(name)) {
        const deadline = call.getDeadline();
        const left = deadline === Infinity ? Infinity : Number(deadline) - Date.now() - 100;
        await this.waitForLeader(Math.min(this.opts.waitForLeaderMs ?? 0, left));
      }
      const leader = this.leaderElsewhere();
      if (!leader) {
        if (CONTROL_MUTATIONS.has(name) && !this.opts.leadership.isLeader()) {
          callback({ code: status.UNAVAILABLE, details: 'no coordinator is the leader right now (election in progress or etcd unreachable); nothing was changed, try again' } as ServiceError);
          return;
        }
        local(call, callback);
        return;
      }
      const deadline = call.getDeadline();
      this.client(leader.grpc).makeUnaryRequest(
        def.path,
        def.requestSerialize as (v: unknown) => Buffer,
        def.responseDeserialize as (b: Buffer) => unknown,
        call.request,
        this.metadataFor(call),
        deadline === Infinity ? {} : { deadline },
        (err, res) => {
          if (err) {
            this.opts.logger.debug({ event: 'forward.failed', method: name, leader: leader.id, code: err.code }, 'forwarded call failed');
            // A failure to reach the leader says nothing about the request itself; make that clear.
            if (err.code === status.UNAVAILABLE) {
              callback({ code: status.UNAVAILABLE, details: `leader ${leader.id} (${leader.grpc}) unreachable from ${this.opts.selfId}: ${err.details}` } as ServiceError);
            } else callback(err);
          } else callback(null, res);
        },
      );
    };
  }

  private serverStream(name: string, local: AnyServerStream): AnyServerStream {
    const def = ControlServiceService[name as MethodName];
    return (call) => {
      const leader = this.leaderElsewhere();
      if (!leader) return local(call);
      const upstream = this.client(leader.grpc).makeServerStreamRequest(
        def.path,
        def.requestSerialize as (v: unknown) => Buffer,
        def.responseDeserialize as (b: Buffer) => unknown,
        call.request,
        this.metadataFor(call),
        {},
      );
      upstream.on('data', (m: unknown) => {
        if (!call.writableEnded) call.write(m);
      });
      upstream.on('error', (err: ServiceError) => {
        if (!call.writableEnded) call.emit('error', { code: err.code, details: err.details });
      });
      upstream.on('end', () => {
        if (!call.writableEnded) call.end();
      });
      const stop = () => upstream.cancel();
      call.on('cancelled', stop);
      call.on('close', stop);
    };
  }
}
