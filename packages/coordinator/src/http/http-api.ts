// The coordinator's HTTP/JSON API (node:http / node:https): the ControlService operations as
// resources under /v1, plus /healthz and /metrics. With TLS on it uses the coordinator's
// certificates (rotated with them) and accepts a client certificate or a bearer token.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import type { Logger } from '@lbha/shared';
import type { CoordinatorAuth } from '../auth/coordinator-auth.js';
import { clientAddress } from '../auth/auth-throttle.js';
import { metricsGzip } from '../metrics/metrics-gzip.js';
import type { ControlApi } from '../control-api.js';
import { toApiError } from '../errors.js';
import type { ConnectionLimiter } from '../limits/connection-limiter.js';
import { HttpError, httpErrorOf } from './http-error.js';
import { tooLarge } from './read-body.js';
import { BACKEND_ROUTES } from './backend-routes.js';
import { ROUTES, type Route, type RouteContext } from './routes.js';
import { UI_HEADERS, uiAsset } from './ui-assets.js';
import { VIP_ROUTES } from './vip-routes.js';

/** Writes the /metrics text to `sink` in order; a promise from the sink means "wait". */
export type MetricsWriter = (sink: (chunk: Buffer) => void | Promise<void>) => Promise<void>;

export interface HttpApiOptions {
  /** host:port; port 0 picks a free port. */
  readonly listen: string;
  /** The operator API, already wrapped by CoordinatorAuth.wrapControl. */
  readonly api: ControlApi;
  readonly auth: CoordinatorAuth;
  readonly logger: Logger;
  readonly maxBodyBytes: number;
  /** Writes the Prometheus text of /metrics; undefined while metrics are not wired in. */
  readonly metrics: () => MetricsWriter | undefined;
  /** Whether the coordinator is serving (for /healthz). */
  readonly healthy: () => boolean;
  /** Caps on open connections (limits section); none when left out. */
  readonly connections?: ConnectionLimiter;
}

interface CompiledRoute {
  readonly route: Route;
  readonly segments: readonly string[];
}

const COMPILED: readonly CompiledRoute[] = [...ROUTES, ...BACKEND_ROUTES, ...VIP_ROUTES].map((route) => ({ route, segments: route.path.split('/').slice(1) }));

function match(segments: readonly string[], path: readonly string[]): Record<string, string> | undefined {
  if (segments.length !== path.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i] as string;
    const p = path[i] as string;
    if (s.startsWith(':')) params[s.slice(1)] = p;
    else if (s !== p) return undefined;
  }
  return params;
}

function parseHostPort(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(listen);
  if (!m) throw new Error(`http.listen: ${JSON.stringify(listen)} is not host:port`);
  return { host: (m[1] ?? m[2]) as string, port: Number(m[3]) };
}

export class HttpApi {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private unsubscribe: (() => void) | undefined;
  /** host:port actually bound (port resolved), after start(). */
  address = '';

  constructor(private readonly opts: HttpApiOptions) {}

  get url(): string {
    return `${this.opts.auth.tls ? 'https' : 'http'}://${this.address}`;
  }

  async start(): Promise<void> {
    const { auth } = this.opts;
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    let server: Server;
    if (auth.certificates) {
      const source = auth.certificates;
      const tlsOpts = () => ({ ca: source.current.ca, cert: source.current.cert, key: source.current.key, ...(source.current.crl ? { crl: source.current.crl } : {}) });
      // A client that opens a connection and never finishes its handshake is let go after 10 s.
      const https = createHttpsServer({ ...tlsOpts(), requestCert: true, rejectUnauthorized: false, handshakeTimeout: 10_000 }, handler);
      this.unsubscribe = source.onChange(() => https.setSecureContext(tlsOpts()));
      server = https as unknown as Server;
    } else {
      server = createHttpServer(handler);
    }
    // Refuse an oversized upload before the client sends it (curl sends Expect: 100-continue).
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      if (Number(req.headers['content-length'] ?? 0) > this.opts.maxBodyBytes) return this.sendError(res, tooLarge(this.opts.maxBodyBytes), true);
      res.writeContinue();
      handler(req, res);
    });
    server.headersTimeout = 10_000;
    server.requestTimeout = 60_000;
    server.on('connection', (s: Socket) => {
      // Over the connection limits: closed before TLS, so refusing costs next to nothing.
      if (this.opts.connections && !this.opts.connections.admit(s)) return;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('secureConnection', (s: TLSSocket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('tlsClientError', (err: Error) => this.opts.logger.debug({ event: 'http.tls_error', err: err.message }, 'TLS handshake failed'));
    const { host, port } = parseHostPort(this.opts.listen);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const a = server.address() as AddressInfo;
    this.address = `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    this.opts.logger.info({ event: 'http.started', url: this.url }, 'HTTP API listening');
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Event streams never end on their own.
      for (const s of this.sockets) s.destroy();
    });
  }

  private sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body) + '\n';
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
    res.end(text);
  }

  private sendError(res: ServerResponse, err: HttpError, close = false): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const error: Record<string, unknown> = { code: err.code, message: err.message };
    if (err.details !== undefined) error['details'] = err.details;
    this.sendJson(res, err.status, { error }, { ...err.headers, ...(close ? { connection: 'close' } : {}) });
  }

  /**
   * The body is written as it is rendered (chunked), through gzip when asked: a scrape never
   * holds the whole text, and the event loop runs between chunks. A client that goes away ends
   * the render at the next chunk.
   */
  private async streamMetrics(writer: MetricsWriter, res: ServerResponse, gzip: boolean): Promise<void> {
    const gz = gzip ? metricsGzip() : undefined;
    const out: Writable = gz ?? res;
    const piped = gz ? pipeline(gz, res) : Promise.resolve();
    piped.catch(() => undefined);
    const gone = new Error('the client closed the connection');
    try {
      await writer(async (chunk) => {
        if (res.destroyed || out.destroyed) throw gone;
        if (!out.write(chunk)) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              out.off('drain', done);
              res.off('close', done);
              resolve();
            };
            out.on('drain', done);
            res.on('close', done);
          });
        }
      });
      out.end();
      await piped;
    } catch (e) {
      // Headers are out: a truncated body is the only way left to say the scrape failed.
      res.destroy();
      if (e !== gone) this.opts.logger.error({ event: 'http.metrics_failed', err: e }, '/metrics render failed');
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const peer = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`;
    try {
      await this.dispatch(req, res, peer);
    } catch (e) {
      // Errors become HTTP answers here and nowhere else.
      const api = e instanceof HttpError ? undefined : toApiError(e);
      if (api?.code === 'INTERNAL') this.opts.logger.error({ event: 'http.handler_error', method: req.method, url: req.url, err: api.cause ?? e }, 'HTTP handler failed');
      const err = api ? httpErrorOf(api) : (e as HttpError);
      // A body we stopped reading leaves the connection unusable: close it after answering.
      this.sendError(res, err, err.status === 413 || !req.complete);
    }
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse, peer: string): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://coordinator');
    const method = req.method ?? 'GET';
    if (url.pathname === '/healthz' && (method === 'GET' || method === 'HEAD')) {
      const ok = this.opts.healthy();
      return this.sendJson(res, ok ? 200 : 503, { status: ok ? 'serving' : 'not_serving' });
    }
    if (url.pathname === '/metrics' && (method === 'GET' || method === 'HEAD')) {
      const writer = this.opts.metrics();
      if (writer === undefined) throw new HttpError(404, 'NOT_FOUND', 'metrics are not available on this coordinator');
      // Prometheus asks for gzip; at 2,000 nodes that is ~200 kB on the wire instead of ~4 MB.
      // zlib runs on the thread pool at its fastest level (see metrics-gzip.ts).
      const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
      res.writeHead(200, {
        'content-type': 'text/plain; version=0.0.4; charset=utf-8',
        'cache-control': 'no-store',
        vary: 'accept-encoding',
        ...(gzip ? { 'content-encoding': 'gzip' } : {}),
      });
      if (method === 'HEAD') {
        res.end();
        return;
      }
      await this.streamMetrics(writer, res, gzip);
      return;
    }
    if ((url.pathname === '/ui' || url.pathname.startsWith('/ui/')) && (method === 'GET' || method === 'HEAD')) {
      // The console's files carry no data; what it shows comes from /v1 with the caller's credentials.
      if (url.pathname === '/ui') {
        res.writeHead(301, { location: '/ui/' });
        res.end();
        return;
      }
      const asset = uiAsset(url.pathname.slice('/ui/'.length));
      if (!asset) throw new HttpError(404, 'NOT_FOUND', `no resource at ${url.pathname}`);
      res.writeHead(200, { 'content-type': asset.type, 'content-length': asset.body.length, ...UI_HEADERS });
      res.end(method === 'HEAD' ? undefined : asset.body);
      return;
    }
    if (!url.pathname.startsWith('/v1/') && url.pathname !== '/v1') throw new HttpError(404, 'NOT_FOUND', `no resource at ${url.pathname}`);

    // Credentials before anything else: an unauthenticated caller learns nothing and uploads nothing.
    const authorization = req.headers['authorization'];
    const socket = req.socket as Partial<TLSSocket>;
    const cert = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
    // The revocation list (tls.crl) is checked by the TLS layer, which lets the handshake through.
    if (cert?.raw && String(socket.authorizationError ?? '') === 'CERT_REVOKED') {
      throw new HttpError(401, 'UNAUTHENTICATED', 'the client certificate is revoked', undefined, { 'www-authenticate': 'Bearer realm="lbha"' });
    }
    // Failures are counted and logged (boundedly) by the throttle, not here: anyone can cause them.
    const auth = this.opts.auth.authenticateFrom({ authorization, peerCertificate: cert?.raw }, clientAddress(req.socket.remoteAddress ?? 'unknown'), 'http');
    if (!auth.ok) {
      if ('retryAfterMs' in auth) throw new HttpError(429, 'RESOURCE_EXHAUSTED', auth.reason, undefined, { 'retry-after': String(Math.ceil(auth.retryAfterMs / 1000)) });
      throw new HttpError(401, 'UNAUTHENTICATED', auth.reason, undefined, { 'www-authenticate': 'Bearer realm="lbha"' });
    }

    let segments: string[];
    try {
      segments = url.pathname.split('/').slice(1).map((s) => decodeURIComponent(s));
    } catch {
      throw new HttpError(400, 'INVALID_ARGUMENT', 'path is not valid percent-encoding');
    }
    let allowed: string[] = [];
    for (const c of COMPILED) {
      const params = match(c.segments, segments);
      if (!params) continue;
      if (c.route.method !== method) {
        allowed.push(c.route.method);
        continue;
      }
      const ctx: RouteContext = {
        req,
        res,
        params,
        query: url.searchParams,
        api: this.opts.api,
        caller: {
          identity: auth.identity,
          // Kept so that a follower forwarding the call passes it on: the leader checks it again.
          authorization: typeof authorization === 'string' && /^bearer /i.test(authorization) ? authorization : undefined,
          peerCertificate: undefined,
          peer: `http:${peer}`,
          deadlineMs: Infinity,
          forwarded: undefined,
        },
        maxBodyBytes: this.opts.maxBodyBytes,
      };
      const result = await c.route.handle(ctx);
      if (result !== 'streamed') this.sendJson(res, result.status, result.body);
      return;
    }
    allowed = [...new Set(allowed)];
    if (allowed.length > 0) throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${url.pathname} (allowed: ${allowed.join(', ')})`, undefined, { allow: allowed.join(', ') });
    throw new HttpError(404, 'NOT_FOUND', `no resource at ${url.pathname}`);
  }
}
