// HTTP(S) probe on a fresh connection each time (no keep-alive: a pooled socket would hide
// a proxy that stopped accepting). Host header and SNI can differ from the URL's address.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { HEALTHY, unhealthy, type CheckResult } from '@lbha/shared';
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
  const isHttps = url.protocol === 'https:';
  const method = (p.method || 'GET').toUpperCase();
  return {
    probe(signal: AbortSignal): Promise<CheckResult> {
      return new Promise((resolve) => {
        const headers: Record<string, string> = { 'user-agent': 'lbha-agent', connection: 'close' };
        if (p.host) headers['host'] = p.host;
        const opts = {
          method,
          headers,
          signal,
          agent: false as const,
          ...(isHttps ? { rejectUnauthorized: p.tlsVerify, servername: p.host ? p.host.replace(/:\d+$/, '') : url.hostname } : {}),
        };
        const onResponse = (res: IncomingMessage): void => {
          const status = res.statusCode ?? 0;
          const statusOk = p.expectStatus > 0 ? status === p.expectStatus : status >= 200 && status < 400;
          if (!statusOk) {
            res.resume();
            resolve(unhealthy(`${method} ${p.url} returned ${status}, expected ${p.expectStatus || '2xx/3xx'}`));
            return;
          }
          if (!p.bodyContains || method === 'HEAD') {
            res.resume();
            res.on('end', () => resolve(HEALTHY));
            res.on('error', (err) => resolve(unhealthy(`${method} ${p.url}: ${err.message}`)));
            return;
          }
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            if (body.length < MAX_BODY) body += chunk;
          });
          res.on('end', () =>
            resolve(body.includes(p.bodyContains) ? HEALTHY : unhealthy(`${method} ${p.url}: body does not contain ${JSON.stringify(p.bodyContains)}`)),
          );
          res.on('error', (err) => resolve(unhealthy(`${method} ${p.url}: ${err.message}`)));
        };
        const req = (isHttps ? httpsRequest : httpRequest)(url, opts, onResponse);
        req.on('error', (err: NodeJS.ErrnoException) => {
          // Aborted by the runner's timeout: the runner reports unknown, this result is dropped.
          resolve(unhealthy(`${method} ${p.url}: ${err.code ?? err.message}${err.code && err.message && !err.message.includes(err.code) ? ` (${err.message})` : ''}`));
        });
        req.end();
      });
    },
  };
}
