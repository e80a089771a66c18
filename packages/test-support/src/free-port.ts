// Free TCP ports on loopback, for servers a test must start on a known port (e.g. to restart
// one on the same port). Servers that can take port 0 should: this is for when they cannot.
//
// The ports come from below the kernel's ephemeral range (ip_local_port_range), not from
// port 0: a port the kernel hands out for listening on port 0 is one it also hands out as the
// local port of outgoing connections, so a server restarted on it later could find it taken by
// some unrelated connection (EADDRINUSE). Below the range, only a listener that chose the same
// number could hold it, and listening here first rules that out at the time of the call.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

/** Where ports are picked when the ephemeral range cannot be read or leaves no room below it. */
const FALLBACK = { low: 20_000, high: 32_767 } as const;
/** Never below this: the well-known and registered ports many services use. */
const FLOOR = 10_000;

/** Ports below the kernel's ephemeral range, from FLOOR up to its start. */
export function pickRange(ipLocalPortRange: string | undefined): { low: number; high: number } {
  const [start] = (ipLocalPortRange ?? '').trim().split(/\s+/).map(Number);
  if (start === undefined || !Number.isInteger(start) || start - 1 - FLOOR < 1000) return { ...FALLBACK };
  return { low: FLOOR, high: start - 1 };
}

function ephemeralRange(): string | undefined {
  try {
    return readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
  } catch {
    return undefined;
  }
}

function listen(s: Server, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => (e.code === 'EADDRINUSE' || e.code === 'EACCES' ? resolve(false) : reject(e));
    s.once('error', onError);
    s.listen(port, '127.0.0.1', () => {
      s.off('error', onError);
      resolve(true);
    });
  });
}

function close(s: Server): Promise<void> {
  return new Promise((resolve) => (s.listening ? s.close(() => resolve()) : resolve()));
}

/** Holds `count` distinct free ports at once, then releases them. */
export async function freePorts(count: number): Promise<number[]> {
  const { low, high } = pickRange(ephemeralRange());
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let tries = 0; ports.length < count; tries++) {
      if (tries >= 1000) throw new Error(`freePorts: no free port found in ${low}-${high} after 1000 tries`);
      const port = low + Math.floor(Math.random() * (high - low + 1));
      if (ports.includes(port)) continue;
      const s = createServer();
      servers.push(s);
      if (await listen(s, port)) ports.push(port);
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
