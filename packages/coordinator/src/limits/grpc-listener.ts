// The coordinator's gRPC listening sockets, owned here rather than by grpc-js so that every
// connection passes the connection limits before TLS: one over a limit is closed at once and
// costs no handshake. Accepted sockets are handed to the gRPC server (a connection injector).
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { Server, ServerCredentials } from '@grpc/grpc-js';
import type { ConnectionLimiter } from './connection-limiter.js';

type Injector = ReturnType<Server['createConnectionInjector']>;

/**
 * Connections the kernel queues until the coordinator accepts them. Node's default (511) is
 * smaller than the fleet: after a coordinator restart thousands of agents connect within a
 * second or two, and a SYN beyond the queue is dropped and retried by the agent's kernel only
 * after 1, 3, 7 s. The kernel caps this at net.core.somaxconn (docs/operator-guide.md).
 */
export const LISTEN_BACKLOG = 65_535;

/** "unix:///run/x.sock" or "unix:/run/x.sock" -> the path; host:port -> host and port. */
function parse(address: string): { path: string } | { host: string; port: number } {
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

  constructor(
    server: Server,
    credentials: ServerCredentials,
    private readonly limiter: ConnectionLimiter,
  ) {
    this.injector = server.createConnectionInjector(credentials);
  }

  /** Listens on `address`; resolves with it, the port resolved. */
  async listen(address: string): Promise<string> {
    const where = parse(address);
    const server = createServer({ noDelay: true }, (socket) => {
      if (!this.limiter.admit(socket)) return;
      const peer = peerName(socket);
      if (peer !== undefined) {
        this.byPeer.set(peer, socket);
        socket.once('close', () => {
          if (this.byPeer.get(peer) === socket) this.byPeer.delete(peer);
        });
      }
      this.injector.injectConnection(socket);
    });
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
   * The accepted TCP socket a call came in on, by the call's peer name: its `bytesRead` counts
   * what arrived on the connection, TLS records and HTTP/2 frames included, and grows in C++
   * without running any JavaScript (connection-liveness.ts). Undefined for unix sockets.
   */
  connectionOf(peer: string): Socket | undefined {
    return this.byPeer.get(peer);
  }

  /** Stops accepting connections (open ones are ended by the gRPC server's shutdown). */
  close(): void {
    for (const s of this.servers.splice(0)) s.close();
  }
}
