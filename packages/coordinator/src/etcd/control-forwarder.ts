// The operator API with several coordinators: any coordinator answers, the leader decides. A
// follower forwards every call to the leader (the leader's registry holds every agent, its
// operations engine runs the drains), so the CLI may talk to any coordinator. With no leader,
// reads are answered locally and mutations fail with UNAVAILABLE: nothing changes while the
// store is unreachable.
//
// A decorator of the ControlApi inside the authorisation layer: it forwards calls the follower
// has authenticated, naming the caller; on the leader, acceptForwarded (forwarded-identity.ts)
// takes that name from a coordinator only.
import { Client, Metadata, status, type ChannelCredentials } from '@grpc/grpc-js';
import { type Logger } from '@lbha/shared';
import { ControlServiceService } from '@lbha/shared/control';
import { decorate, type Caller, type ControlApi, type ControlMethod } from '../control-api.js';
import { ApiError } from '../errors.js';
import { grpcErrorToApi } from '../grpc-control-service.js';
import { encodeIdentity, FORWARDED_BY, FORWARDED_CERT, FORWARDED_FOR, FORWARDED_IDENTITY } from './forwarded-identity.js';
import type { LeaderInfo, Leadership } from './leadership.js';

/** Calls that change state; refused when there is no leader. */
export const CONTROL_MUTATIONS: ReadonlySet<ControlMethod> = new Set<ControlMethod>(['drain', 'undrain', 'restartService', 'reloadService', 'rollingRestart', 'cancelOperation', 'applySpec', 'moveVip', 'unpinVip', 'drillCluster']);

export interface ControlForwarderOptions {
  readonly local: ControlApi;
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

/** Metadata of a call passed on to the leader: the caller's token, and who it is as authenticated here. */
function forwardMetadata(caller: Caller, selfId: string): Metadata {
  const md = new Metadata();
  if (caller.authorization !== undefined) md.set('authorization', caller.authorization);
  md.set(FORWARDED_BY, selfId);
  md.set(FORWARDED_FOR, caller.peer);
  if (caller.peerCertificate) md.set(FORWARDED_CERT, caller.peerCertificate);
  if (caller.identity) md.set(FORWARDED_IDENTITY, encodeIdentity(caller.identity));
  return md;
}

export class ControlForwarder {
  private readonly clients = new Map<string, Client>();
  readonly api: ControlApi;

  constructor(private readonly opts: ControlForwarderOptions) {
    this.api = decorate(opts.local, {
      unary: (method, local) => (request, caller) => this.unary(method, local, request, caller),
      streaming: (method, local) => (request, caller, sink) => {
        const leader = this.leaderElsewhere();
        if (!leader) return local(request, caller, sink);
        const def = ControlServiceService[method];
        const upstream = this.client(leader.grpc).makeServerStreamRequest(
          def.path,
          def.requestSerialize as (v: unknown) => Buffer,
          def.responseDeserialize as (b: Buffer) => unknown,
          request,
          forwardMetadata(caller, opts.selfId),
          {},
        );
        // The receiver's back-pressure holds the leader's stream back.
        sink.onDrain(() => upstream.resume());
        upstream.on('data', (m: unknown) => {
          if (!sink.write(m)) upstream.pause();
        });
        upstream.on('error', (err: { code?: number; details?: string }) => {
          if (err.code !== status.CANCELLED || !sink.closed.aborted) sink.fail(grpcErrorToApi(err));
        });
        upstream.on('end', () => sink.end());
        sink.closed.addEventListener('abort', () => upstream.cancel());
      },
    });
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
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

  private async unary(method: ControlMethod, local: (request: unknown, caller: Caller) => Promise<unknown>, request: unknown, caller: Caller): Promise<unknown> {
    const mutation = CONTROL_MUTATIONS.has(method);
    if (mutation) await this.waitForLeader(Math.min(this.opts.waitForLeaderMs ?? 0, caller.deadlineMs - Date.now() - 100));
    const leader = this.leaderElsewhere();
    if (!leader) {
      if (mutation && !this.opts.leadership.isLeader()) {
        throw new ApiError('UNAVAILABLE', 'no coordinator is the leader right now (election in progress or etcd unreachable); nothing was changed, try again');
      }
      return local(request, caller);
    }
    const def = ControlServiceService[method];
    return new Promise((resolve, reject) => {
      this.client(leader.grpc).makeUnaryRequest(
        def.path,
        def.requestSerialize as (v: unknown) => Buffer,
        def.responseDeserialize as (b: Buffer) => unknown,
        request,
        forwardMetadata(caller, this.opts.selfId),
        caller.deadlineMs === Infinity ? {} : { deadline: caller.deadlineMs },
        (err, res) => {
          if (!err) return resolve(res);
          this.opts.logger.debug({ event: 'forward.failed', method, leader: leader.id, code: err.code }, 'forwarded call failed');
          // A failure to reach the leader says nothing about the request itself; make that clear.
          if (err.code === status.UNAVAILABLE) reject(new ApiError('UNAVAILABLE', `leader ${leader.id} (${leader.grpc}) unreachable from ${this.opts.selfId}: ${err.details}`));
          else reject(grpcErrorToApi(err));
        },
      );
    });
  }
}
