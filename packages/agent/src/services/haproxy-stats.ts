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

/**
 * `show stat` (CSV with a `# ` header): its column names and its server rows by
 * "backend/server", frontend and backend rows left out (none without pxname and svname).
 */
export function showStatServers(csv: string): { readonly columns: readonly string[]; readonly rows: ReadonlyMap<string, readonly string[]> } {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const columns = lines[0]?.replace(/^#\s*/, '').split(',') ?? [];
  const px = columns.indexOf('pxname');
  const sv = columns.indexOf('svname');
  const rows = new Map<string, string[]>();
  if (px < 0 || sv < 0) return { columns, rows };
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    const name = f[sv] ?? '';
    if (name === 'FRONTEND' || name === 'BACKEND' || name === '') continue;
    rows.set(`${f[px]}/${name}`, f);
  }
  return { columns, rows };
}

/** Server rows of `show stat` as "backend/server" -> status (UP, DOWN, MAINT, no check...). */
export function parseShowStat(csv: string): Record<string, string> {
  const { columns, rows } = showStatServers(csv);
  const st = columns.indexOf('status');
  const states: Record<string, string> = {};
  if (st < 0) return states;
  for (const [key, f] of rows) states[key] = f[st] ?? '';
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
