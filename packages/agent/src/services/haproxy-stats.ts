// haproxy load and server states from its stats socket (`show info`, `show stat`).
import { connect } from 'node:net';
import type { ServiceStats } from '@lbha/shared';

export function parseShowInfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return out;
}

/** Server rows of `show stat` as "backend/server" -> status (UP, DOWN, MAINT, no check...). */
export function parseShowStat(csv: string): Record<string, string> {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0]?.replace(/^#\s*/, '').split(',') ?? [];
  const px = header.indexOf('pxname');
  const sv = header.indexOf('svname');
  const st = header.indexOf('status');
  const states: Record<string, string> = {};
  if (px < 0 || sv < 0 || st < 0) return states;
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    const name = f[sv] ?? '';
    if (name === 'FRONTEND' || name === 'BACKEND' || name === '') continue;
    states[`${f[px]}/${name}`] = f[st] ?? '';
  }
  return states;
}

export function statsFromHaproxy(info: string, stat: string): ServiceStats | undefined {
  const i = parseShowInfo(info);
  const cur = i.get('CurrConns');
  if (cur === undefined) return undefined;
  return {
    activeConnections: Number(cur) || 0,
    requestsTotal: Number(i.get('CumReq') ?? 0) || 0,
    currentSessions: Number(cur) || 0,
    serverStates: parseShowStat(stat),
  };
}

/** Sends one command to the stats socket and returns the reply (the socket closes after it). */
export function haproxyCommand(socketPath: string, command: string, timeoutMs = 1000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = connect({ path: socketPath });
    let out = '';
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(undefined);
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${command}\n`));
    sock.on('data', (c: string) => {
      out += c;
    });
    sock.on('end', () => {
      clearTimeout(timer);
      resolve(out);
    });
    sock.on('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}

export async function fetchHaproxyStats(socketPath: string): Promise<ServiceStats | undefined> {
  const info = await haproxyCommand(socketPath, 'show info');
  if (info === undefined) return undefined;
  const stat = (await haproxyCommand(socketPath, 'show stat')) ?? '';
  return statsFromHaproxy(info, stat);
}
