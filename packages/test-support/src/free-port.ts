// Free TCP ports on loopback, for servers a test must start on a known port (e.g. to restart
// one on the same port). Servers that can take port 0 should: this is for when they cannot.
import { createServer, type Server } from 'node:net';

function listen(s: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port));
  });
}

function close(s: Server): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}

/** Holds `count` distinct free ports at once, then releases them. */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const s = createServer();
      servers.push(s);
      ports.push(await listen(s));
    }
    return ports;
  } finally {
    await Promise.all(servers.map(close));
  }
}

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0] as number;
}
