// A front process (grpc.fronts; docs/design/fronts.md): forked by the coordinator, it accepts
// agents' connections on the coordinator's own listening socket, runs their TLS handshakes
// (in bounded slots, as the coordinator would: limits/grpc-listener.ts) and relays each agent
// stream, message for message, to the coordinator over a unix socket only the coordinator's
// user can reach, with the agent's verified certificate (etcd/agent-relay.ts, the same relay a
// follower runs towards its leader, here passing each message's bytes past the Hello and the
// Welcome). It reads its agents' connections and reports their
// liveness to the coordinator every half heartbeat interval. It keeps no state of the fleet: when
// it dies, its agents reconnect (to the other fronts, which accept on the same socket) and the
// coordinator starts another. It exits when the coordinator says so or is gone.
import { Client, credentials, Server, status, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { ControlServiceService } from '@lbha/shared/control';
import { service as healthService } from 'grpc-health-check';
import { CertificateSource, createLogger, isInsecure, type AgentServiceServer } from '@lbha/shared';
import { ServerTls } from '../auth/server-tls.js';
import { AGENT_SERVICE_AS_BYTES, AgentRelay, type AgentBytesCall } from '../etcd/agent-relay.js';
import { peerCertificate } from '../etcd/forwarded-identity.js';
import type { Leadership } from '../etcd/leadership.js';
import { ConnectionLimiter } from '../limits/connection-limiter.js';
import { GrpcListener } from '../limits/grpc-listener.js';
import { HandshakeTimings } from '../metrics/handshake-timings.js';
import { Registry } from '../registry.js';
import { COUNTS_INTERVAL_MS, type FromFront, type FrontStart, type ToFront } from './front-wire.js';
import { addPassthrough, REFLECTION_METHODS } from './passthrough.js';

const NEED_CERTIFICATE = 'agent streams need a client certificate of role agent that the CA (and its CRL) accepts';

function tell(msg: FromFront): void {
  process.send?.(msg);
}

/** The coordinator, as a leader that never changes: the relay sends everything there. */
function coordinatorAsLeader(address: string): Leadership {
  const leader = { id: 'coordinator', grpc: address, http: '' };
  return { isLeader: () => false, leader: () => leader, fence: () => undefined, subscribe: () => () => undefined };
}

class Front {
  private readonly server: Server;
  private readonly listener: GrpcListener;
  private readonly relay: AgentRelay;
  /** The operator's calls go to the coordinator on a connection of their own. */
  private readonly api: Client;
  private readonly certificates: CertificateSource | undefined;
  private readonly serverTls: ServerTls | undefined;
  private readonly counting: NodeJS.Timeout;
  private stopped = false;

  constructor(readonly start: FrontStart) {
    const logger = createLogger('coordinator-front', { level: start.logLevel }).child({ front: start.id });
    const tls = !isInsecure(start.tls);
    this.certificates = isInsecure(start.tls) ? undefined : new CertificateSource(start.tls, { logger, watchIntervalMs: 1000 });
    this.serverTls = this.certificates ? new ServerTls(this.certificates) : undefined;
    this.server = new Server({
      'grpc.max_receive_message_length': start.maxMessageBytes,
      'grpc.max_concurrent_streams': start.streamsPerConnection,
      // As the coordinator's own port (server.ts): an agent's connection carries its PINGs.
      'grpc.keepalive_time_ms': 60_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': 5_000,
      'grpc.enable_channelz': 0,
    });
    const limiter = new ConnectionLimiter(start.connections, start.connectionsPerAddress);
    const timings = new HandshakeTimings();
    this.listener = new GrpcListener(this.server, { tls: this.serverTls, limiter, handshakes: start.handshakes, observer: timings.observer() });
    // The coordinator's /metrics shows the connections and handshakes of its fronts with its own.
    this.counting = setInterval(() => tell({ type: 'counts', connections: limiter.stats(), handshakes: this.listener.handshakeStats(), outcomes: timings.totals() }), COUNTS_INTERVAL_MS);
    this.counting.unref();
    const refuse = (call: { emit(event: 'error', e: unknown): boolean }, code: status, details: string) => call.emit('error', { code, details });
    // The relay only ever relays here (the coordinator is its leader, always): it serves nothing itself.
    const nowhere: AgentServiceServer = {
      connect: (call) => refuse(call, status.UNAVAILABLE, 'the coordinator is not reachable; reconnect'),
      reportRelayedLiveness: (_call, callback) => callback({ code: status.PERMISSION_DENIED, details: 'not served here' }),
    };
    this.relay = new AgentRelay({
      local: nowhere,
      leadership: coordinatorAsLeader(start.coordinator),
      selfId: start.id,
      registry: new Registry(60_000),
      credentials: credentials.createInsecure(),
      channelOptions: { 'grpc.max_receive_message_length': start.maxMessageBytes, 'grpc.max_send_message_length': start.maxMessageBytes },
      logger,
      streamsPerChannel: start.streamsPerConnection,
      connectionOf: (call) => this.listener.connectionOf(call.getPeer()),
      livenessIntervalMs: start.livenessIntervalMs,
      deadConnectionMs: start.deadConnectionMs,
    });
    // The agent's messages stay bytes: the relay decodes the Hello and the Welcome and passes
    // the rest as received (etcd/agent-relay.ts); the coordinator decodes them.
    const service: UntypedServiceImplementation = {
      connect: (call: AgentBytesCall): void => {
        // Refused here, before the coordinator sees it: a stream without a certificate the
        // handshake verified (grpc-js gives a call none when the CA or the CRL refused it).
        if (tls) {
          let cert: Buffer | undefined;
          try {
            cert = peerCertificate(call);
          } catch {
            cert = undefined;
          }
          if (!cert) {
            logger.warn({ event: 'agent.refused', peer: call.getPeer(), reason: NEED_CERTIFICATE }, 'agent refused at the front');
            refuse(call, status.UNAUTHENTICATED, NEED_CERTIFICATE);
            return;
          }
        }
        this.relay.connectBytes(call);
      },
      reportRelayedLiveness: (_call: unknown, callback: (e: { code: status; details: string }) => void) => callback({ code: status.PERMISSION_DENIED, details: "only a coordinator may report relayed agents' liveness" }),
    };
    this.server.addService(AGENT_SERVICE_AS_BYTES, service);
    // The size limits are the coordinator's (its answer) and the caller's own.
    this.api = new Client(start.coordinator, credentials.createInsecure(), { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1, 'grpc.use_local_subchannel_pool': 1 });
    addPassthrough(this.server, ControlServiceService, this.api, start.id);
    addPassthrough(this.server, healthService, this.api, start.id);
    addPassthrough(this.server, REFLECTION_METHODS, this.api, start.id);
  }

  async listen(address: string, handle: object): Promise<void> {
    await this.listener.adopt(handle);
    tell({ type: 'listening', address });
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.counting);
    this.listener.close();
    this.relay.close();
    this.api.close();
    this.server.forceShutdown();
    this.serverTls?.close();
    this.certificates?.close();
    process.exit(0);
  }
}

let front: Front | undefined;

process.on('message', (msg: ToFront, handle: unknown) => {
  switch (msg.type) {
    case 'start':
      front ??= new Front(msg);
      break;
    case 'listen':
      if (!front || typeof handle !== 'object' || handle === null) {
        tell({ type: 'failed', reason: `listen ${msg.address}: ${front ? 'no socket came with it' : 'not started'}` });
        break;
      }
      front.listen(msg.address, handle).catch((err: unknown) => tell({ type: 'failed', reason: `listen ${msg.address}: ${(err as Error).message}` }));
      break;
    case 'stop':
      front?.stop();
      process.exit(0);
  }
});
// The coordinator is gone (stopped, or killed): nobody is left to relay to.
process.on('disconnect', () => {
  front?.stop();
  process.exit(0);
});
// A terminal's ^C or a service manager's SIGTERM reaches the whole group: the coordinator decides.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
