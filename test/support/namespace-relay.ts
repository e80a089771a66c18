// Reaches a TCP port on the loopback of a network namespace from the host's loopback, without
// any route between them: a process inside the namespace listens on a unix socket (the file
// system is shared) and connects to its own 127.0.0.1:PORT; the host side listens on
// 127.0.0.1:0 and connects to that socket. Used to let a host Prometheus scrape the agents'
// /metrics, which listen on 127.0.0.1 inside the LB namespaces.
//   inside the namespace: node namespace-relay.js UNIX_PATH PORT
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const RELAY_SCRIPT = fileURLToPath(import.meta.url);

function pipe(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', end).on('close', end);
  b.on('error', end).on('close', end);
}

/** The host side: 127.0.0.1:<port> forwarded to the unix socket. */
export async function hostRelay(unixPath: string): Promise<{ readonly port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    pipe(s, createConnection(unixPath));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

// The namespace side, when run as a script.
if (process.argv[1] === RELAY_SCRIPT) {
  const [unixPath, port] = process.argv.slice(2) as [string, string];
  rmSync(unixPath, { force: true });
  const server = createServer((s) => pipe(s, createConnection(Number(port), '127.0.0.1')));
  server.listen(unixPath);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
