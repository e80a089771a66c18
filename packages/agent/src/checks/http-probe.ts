// HTTP(S) probe on a fresh connection each time (no keep-alive: a pooled socket would hide
// a proxy that stopped accepting). Host header and SNI can differ from the URL's address.
import type { IncomingMessage } from 'node:http';
import { HEALTHY, unhealthy, urlForDisplay, type CheckResult } from '@lbha/shared';
import { openProbeSocket } from './probe-socket.js';
import type { Probe } from './probe.js';

export interface HttpProbeParams {
  readonly url: string;
  readonly method: string;
  readonly host: string;
  /** 0 = any 2xx or 3xx. */
  readonly expectStatus: number;
  readonly bodyContains: string;
  readonly tlsVerify: boolean;
}

const MAX_BODY = 64 * 1024;

export function httpProbe(p: HttpProbeParams): Probe {
  const url = new URL(p.url);
  // Reasons reach the coordinator, its readers and logs: never with the URL's credentials.
  const shown = urlForDisplay(p.url);
  const isHttps = url.protocol === 'https:';
  const method = (p.method || 'GET').toUpperCase();
  if (!isHttps) return plainHttpProbe(p, url, method);
  return {
    // node:https (and through it the TLS client) is loaded by the first HTTPS probe: an agent
    // without one does not keep its code.
    async probe(signal: AbortSignal): Promise<CheckResult> {
      const { request: httpsRequest } = await import('node:https');
      return new Promise((resolve) => {
        const headers: Record<string, string> = { 'user-agent': 'lbha-agent', connection: 'close' };
        if (p.host) headers['host'] = p.host;
        const opts = {
          method,
          headers,
          signal,
          agent: false as const,
          rejectUnauthorized: p.tlsVerify,
          servername: p.host ? p.host.replace(/:\d+$/, '') : url.hostname,
        };
        const onResponse = (res: IncomingMessage): void => {
          const status = res.statusCode ?? 0;
          const statusOk = p.expectStatus > 0 ? status === p.expectStatus : status >= 200 && status < 400;
          if (!statusOk) {
            res.resume();
            resolve(unhealthy(`${method} ${shown} returned ${status}, expected ${p.expectStatus || '2xx/3xx'}`));
            return;
          }
          if (!p.bodyContains || method === 'HEAD') {
            res.resume();
            res.on('end', () => resolve(HEALTHY));
            res.on('error', (err) => resolve(unhealthy(`${method} ${shown}: ${err.message}`)));
            return;
          }
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            if (body.length < MAX_BODY) body += chunk;
          });
          res.on('end', () =>
            resolve(body.includes(p.bodyContains) ? HEALTHY : unhealthy(`${method} ${shown}: body does not contain ${JSON.stringify(p.bodyContains)}`)),
          );
          res.on('error', (err) => resolve(unhealthy(`${method} ${shown}: ${err.message}`)));
        };
        const req = httpsRequest(url, opts, onResponse);
        req.on('error', (err: NodeJS.ErrnoException) => {
          // Aborted by the runner's timeout: the runner reports unknown, this result is dropped.
          resolve(unhealthy(`${method} ${shown}: ${err.code ?? err.message}${err.code && err.message && !err.message.includes(err.code) ? ` (${err.message})` : ''}`));
        });
        req.end();
      });
    },
  };
}

function statusOk(p: HttpProbeParams, status: number): boolean {
  return p.expectStatus > 0 ? status === p.expectStatus : status >= 200 && status < 400;
}

/**
 * Plain HTTP over a bare connection (checks/probe-socket.ts): one HTTP/1.0 request, built once
 * (no chunked replies, the server closes), status line and body read by hand. At several probes
 * a second this costs a fraction of what node:http's per-request machinery does, and a check
 * needs nothing more.
 */
function plainHttpProbe(p: HttpProbeParams, url: URL, method: string): Probe {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || 80);
  const request = Buffer.from(
    `${method} ${url.pathname}${url.search} HTTP/1.0\r\nHost: ${p.host || url.host}\r\nUser-Agent: lbha-agent\r\nAccept: */*\r\n\r\n`,
  );
  const label = `${method} ${urlForDisplay(p.url)}`;
  return {
    probe(signal: AbortSignal): Promise<CheckResult> {
      return new Promise((resolve) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let settled = false;
        const finish = (r: CheckResult): void => {
          if (settled) return;
          settled = true;
          signal.removeEventListener('abort', onAbort);
          sock.destroy();
          resolve(r);
        };
        const onAbort = (): void => finish(unhealthy(`${label}: aborted`));
        const evaluate = (complete: boolean): void => {
          const text = (chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)).toString('latin1');
          const m = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(text);
          if (!m) {
            if (complete) finish(unhealthy(`${label}: no HTTP response`));
            return;
          }
          const status = Number(m[1]);
          if (!statusOk(p, status)) return finish(unhealthy(`${label} returned ${status}, expected ${p.expectStatus || '2xx/3xx'}`));
          if (!p.bodyContains || method === 'HEAD') return finish(HEALTHY);
          if (!complete) return;
          const at = text.indexOf('\r\n\r\n');
          const body = at >= 0 ? Buffer.concat(chunks).subarray(at + 4).toString('utf8') : '';
          finish(body.includes(p.bodyContains) ? HEALTHY : unhealthy(`${label}: body does not contain ${JSON.stringify(p.bodyContains)}`));
        };
        const sock = openProbeSocket(host, port, {
          connect: () => sock.write(request),
          data: (c) => {
            if (size < MAX_BODY) {
              chunks.push(c);
              size += c.length;
            }
            // Without a body to match, the status line is all we need.
            if (!p.bodyContains && size >= 12) evaluate(false);
          },
          end: () => evaluate(true),
          error: (code) => finish(unhealthy(`${label}: ${code}`)),
        });
        signal.addEventListener('abort', onAbort, { once: true });
      });
    },
  };
}
