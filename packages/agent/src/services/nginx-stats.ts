// nginx load from its stub_status page.
import { request } from 'node:http';
import type { ServiceStats } from '@lbha/shared';

/**
 * Parses stub_status output. nginx counts the connection asking for the page as active, so
 * one is subtracted: a drained nginx reads 0.
 */
export function parseStubStatus(text: string): ServiceStats | undefined {
  const active = /Active connections:\s*(\d+)/.exec(text);
  const counters = /\n\s*(\d+)\s+(\d+)\s+(\d+)\s*\n/.exec(text);
  if (!active) return undefined;
  return {
    activeConnections: Math.max(0, Number(active[1]) - 1),
    requestsTotal: counters ? Number(counters[3]) : 0,
    currentSessions: Math.max(0, Number(active[1]) - 1),
    serverStates: {},
  };
}

export function fetchStubStatus(url: string, timeoutMs = 1000): Promise<ServiceStats | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: timeoutMs, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < 4096) body += c;
      });
      res.on('end', () => resolve(res.statusCode === 200 ? parseStubStatus(body) : undefined));
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}
