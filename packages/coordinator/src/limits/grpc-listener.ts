// The coordinator's gRPC listening sockets, owned here rather than by grpc-js so that every
// connection passes the connection limits before TLS (one over a limit is closed at once and
// costs no handshake), and so that TLS handshakes run a bounded number at a time, in arrival
// order (handshake-queue.ts). Finished connections are handed to the gRPC server (a connection
// injector), which then sees plain HTTP/2 over an already secure socket.
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { ServerCredentials, type Server } from '@grpc/grpc-js';
import type { HandshakeOutcome, ServerTls } from '../auth/server-tls.js';
import type { ConnectionLimiter } from './connection-limiter.js';
import { HandshakeQueue, type HandshakeQueueStats } from './handshake-queue.js';

type Injector = ReturnType<Server['createConnectionInjector']>;

/**
 * Connections the kernel queues until the coordinator accepts them. Node's default (511) is
 * smaller than the fleet: after a coordinator restart thousands of agents connect within a
 * second or two, and a SYN beyond the queue is dropped and retried by the agent's kernel only
 * after 1, 3, 7 s. The kernel caps this at net.core.somaxconn (docs/operator-guide.md).
 */
export const LISTEN_BACKLOG = 65_535;

/**
 * How long one handshake holds its slot at most. The slots bound the coordinator's work, but a
 * handshake also waits for its client: a client that connects and sends nothing (or a slow one)
 * would otherwise hold a slot until the handshake timeout (auth/server-tls.ts, 20 s), and a few
 * hundred such connections would stall every agent's handshake. After this long the handshake
 * goes on outside the bound and the next one starts. With the slots in use, a handshake on a
 * busy core takes milliseconds to a few hundred.
 */
export const HANDSHAKE_SLOT_MS = 2_000;

/** Told how each TLS handshake ended and how long it ran (from its start, its wait for a slot left out). */
export interface HandshakeObserver {
  ended(outcome: HandshakeOutcome, seconds: number): void;
}

export interface GrpcListenerOptions {
  /** TLS on the port (undefined: plaintext, connections go to the gRPC server as they come). */
  readonly tls: ServerTls | undefined;
  readonly limiter: ConnectionLimiter;
  /** TLS handshakes in progress at most (limits.tlsHandshakes). */
  readonly handshakes: number;
  /** See HANDSHAKE_SLOT_MS (tests change it). */
  readonly slotMs?: number;
  /** Counts the handshakes' outcomes (the metrics). */
  readonly observer?: HandshakeObserver;
}

/** "unix:///run/x.sock" or "unix:/run/x.sock" -> the path; host:port -> host and port. */
export function parseListenAddress(address: string): { path: string } | { host: string; port: number } {
  if (address.startsWith('unix:')) return { path: address.replace(/^unix:(\/\/)?/, '') };
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(address);
  if (!m) throw new Error(`grpc.listen: ${JSON.stringify(address)} is not host:port or unix:PATH`);
  return { host: (m[1] ?? m[2]) as string, port: Number(m[3]) };
}

/**
 * A TCP connection's name as grpc-js gives it for the calls it carries (`call.getPeer()`:
 * "ADDRESS:PORT"); undefined for a unix socket, whose calls all say "unknown".
 */
function peerName(socket: Socket): string | undefined {
  return socket.remoteAddress && socket.remotePort ? `${socket.remoteAddress}:${socket.remotePort}` : undefined;
}

export class GrpcListener {
  private readonly injector: Injector;
  private readonly servers: NetServer[] = [];
  /** Open TCP connections by peer name, for connectionOf. */
  private readonly byPeer = new Map<string, Socket>();
  /** The TLS connection over each accepted socket whose handshake completed. */
  private readonly secure = new WeakMap<Socket, TLSSocket>();
  private readonly queue: HandshakeQueue<Socket> | undefined;

  constructor(
    server: Server,
    private readonly opts: GrpcListenerOptions,
  ) {
    // TLS is done here; the gRPC server gets connections whose handshake is over.
    this.injector = server.createConnectionInjector(ServerCredentials.createInsecure());
    const tls = opts.tls;
    if (tls) {
      const observer = opts.observer;
      this.queue = new HandshakeQueue<Socket>({
        limit: opts.handshakes,
        slotMs: opts.slotMs ?? HANDSHAKE_SLOT_MS,
        start: (socket, done) => {
          const startedAt = performance.now();
          tls.handshake(
            socket,
            (outcome) => {
              done();
              observer?.ended(outcome, (performance.now() - startedAt) / 1000);
            },
            (secure) => {
              this.secure.set(socket, secure);
              this.injector.injectConnection(secure);
            },
          );
        },
      });
    }
  }

  /** Listens on `address`; resolves with it, the port resolved. */
  async listen(address: string): Promise<string> {
    const where = parseListenAddress(address);
    const server = this.netServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const done = () => {
        server.off('error', reject);
        resolve();
      };
      if ('path' in where) server.listen({ path: where.path, backlog: LISTEN_BACKLOG }, done);
      else server.listen({ port: where.port, host: where.host, backlog: LISTEN_BACKLOG }, done);
    });
    this.servers.push(server);
    if ('path' in where) return address;
    const port = (server.address() as { port: number }).port;
    return address.replace(/:\d+$/, `:${port}`);
  }

  /**
   * Accepts connections on a socket another process bound and passed over IPC (a front,
   * fronts/front-main.ts): every process holding it accepts from the same queue, and the kernel
   * gives each connection to one of them. The backlog is LISTEN_BACKLOG, as for `listen`.
   */
  async adopt(handle: object): Promise<void> {
    const server = this.netServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(handle, LISTEN_BACKLOG, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.servers.push(server);
  }

  private netServer(): NetServer {
    // With TLS, a queued connection is not read from until its handshake starts: what its
    // client sent waits in the kernel, and a client that left is seen then, at no cost before.
    return createServer({ noDelay: true, pauseOnConnect: this.queue !== undefined }, (socket) => {
      if (!this.opts.limiter.admit(socket)) return;
      const peer = peerName(socket);
      if (peer !== undefined) {
        this.byPeer.set(peer, socket);
        socket.once('close', () => {
          if (this.byPeer.get(peer) === socket) this.byPeer.delete(peer);
        });
      }
      if (this.queue) this.queue.push(socket);
      else this.injector.injectConnection(socket);
    });
  }

  /**
   * The accepted TCP socket a call came in on, by the call's peer name: its `bytesRead` counts
   * what arrived on the connection, TLS records and HTTP/2 frames included, and grows in C++
   * without running any JavaScript (connection-liveness.ts). Undefined for unix sockets.
   */
  connectionOf(peer: string): Socket | undefined {
    return this.byPeer.get(peer);
  }

  /**
   * The TLS connection a call came in on, by the call's peer name: what its handshake verified
   * and the client certificate it holds (auth/authenticator.ts). Undefined with plaintext and
   * for unix sockets.
   */
  secureConnectionOf(peer: string): TLSSocket | undefined {
    const raw = this.byPeer.get(peer);
    return raw ? this.secure.get(raw) : undefined;
  }

  /** Handshakes running and connections waiting for one (zeros with plaintext). */
  handshakeStats(): HandshakeQueueStats {
    return this.queue?.stats() ?? { inFlight: 0, queued: 0, started: 0, slotsTimedOut: 0 };
  }

  /** Stops accepting connections and drops those waiting for a handshake (open ones are ended by the gRPC server's shutdown). */
  close(): void {
    for (const s of this.servers.splice(0)) s.close();
    this.queue?.close();
  }
}
