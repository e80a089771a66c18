// A real coordinator on 127.0.0.1:0 with TLS from a throwaway CA, tokens, and the HTTP API;
// clients for both APIs with any of the credentials a caller can present.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  credentials as grpcCredentials,
  Metadata,
  type ChannelCredentials,
  type ClientDuplexStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { AgentServiceClient, PROTOCOL_VERSION, silentLogger, type ConnectRequest, type ConnectResponse, type Logger } from '@lbha/shared';
import { ControlServiceClient } from '@lbha/shared/control';
import { hashToken } from '../../src/auth/auth-config.js';
import { createDevCa, type DevCa, type KeyPair } from '../../src/auth/dev-ca.js';
import { coordinatorConfigSchema, type CoordinatorConfig } from '../../src/coordinator-config.js';
import { CoordinatorServer, type CoordinatorServerOptions } from '../../src/server.js';

/** Limits no test of something else reaches. */
export const GENEROUS_LIMITS = { requestsPerSecond: 1_000_000, failedAuthPerMinute: 1_000_000, agentConnectsPerMinute: 1_000_000, agentMessagesPerSecond: 1_000_000 };

export const TOKENS = { ops: 'ops-token-0123456789', viewer: 'viewer-token-0123456789' } as const;

export interface TlsCoordinator {
  readonly dir: string;
  readonly ca: DevCa;
  readonly server: CoordinatorServer;
  readonly grpcAddress: string;
  readonly httpPort: number;
  stop(): Promise<void>;
}

export async function startTlsCoordinator(
  options: {
    maxMessageBytes?: number;
    agents?: string[];
    server?: CoordinatorServerOptions;
    config?: Record<string, unknown>;
    logger?: Logger;
    /** More TLS settings, made once the CA exists (in `dir`). */
    tls?: (ca: DevCa, dir: string) => Record<string, unknown>;
  } = {},
): Promise<TlsCoordinator> {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-tls-'));
  const ca = createDevCa({ dir: join(dir, 'pki'), agents: options.agents ?? ['lb1', 'lb2'], operators: ['alice'], readOnly: ['viewer'] });
  // Through the schema, so every section gets its defaults.
  const config = coordinatorConfigSchema.parse({
    id: 'coord-tls',
    grpc: { listen: ['127.0.0.1:0'], maxMessageBytes: options.maxMessageBytes ?? 4 * 1024 * 1024 },
    http: { listen: '127.0.0.1:0' },
    tls: { ca: ca.ca.cert, cert: ca.coordinator.cert, key: ca.coordinator.key, ...options.tls?.(ca, dir) },
    auth: {
      tokens: [
        { name: 'ops', role: 'operator', sha256: hashToken(TOKENS.ops) },
        { name: 'viewer', role: 'read-only', sha256: hashToken(TOKENS.viewer) },
      ],
      anonymous: 'none',
    },
    stateDir: join(dir, 'state'),
    heartbeat: { interval: '1s', staleAfter: '3s' },
    // Tests of other things call fast, and with bad credentials, from one address: the limits
    // have tests of their own (hostile-limits), which pass a limits section to get them.
    limits: GENEROUS_LIMITS,
    ...options.config,
  }) as CoordinatorConfig;
  const server = new CoordinatorServer(config, options.logger ?? silentLogger(), options.server);
  await server.start();
  const httpPort = Number(server.http?.address.split(':').pop());
  return {
    dir,
    ca,
    server,
    grpcAddress: server.addresses[0] as string,
    httpPort,
    stop: async () => {
      await server.stop(500);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** What a caller presents: a client certificate, a bearer token, both or nothing. */
export interface Caller {
  readonly cert?: KeyPair;
  readonly token?: string;
}

export function channelCredentials(c: TlsCoordinator, who: Caller, caFile = c.ca.ca.cert): ChannelCredentials {
  const ssl = grpcCredentials.createSsl(
    readFileSync(caFile),
    who.cert ? readFileSync(who.cert.key) : null,
    who.cert ? readFileSync(who.cert.cert) : null,
  );
  if (!who.token) return ssl;
  const token = who.token;
  return grpcCredentials.combineChannelCredentials(
    ssl,
    grpcCredentials.createFromMetadataGenerator((_p, cb) => {
      const md = new Metadata();
      md.set('authorization', `Bearer ${token}`);
      cb(null, md);
    }),
  );
}

export type Control = InstanceType<typeof ControlServiceClient>;

export function controlClient(c: TlsCoordinator, who: Caller): Control {
  return new ControlServiceClient(c.grpcAddress, channelCredentials(c, who));
}

export type CallOutcome<T> = { ok: true; value: T } | { ok: false; code: number; details: string };

/** Calls a unary ControlService method; resolves with its response or its status. */
export function unary<T>(client: Control, method: string, request: unknown, deadlineMs = 5000): Promise<CallOutcome<T>> {
  const fn = (client as unknown as Record<string, (r: unknown, md: Metadata, o: object, cb: (e: ServiceError | null, r: T) => void) => void>)[method];
  if (!fn) throw new Error(`no method ${method}`);
  return new Promise((resolve) =>
    fn.call(client, request, new Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) =>
      resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true, value: res }),
    ),
  );
}

export interface HttpReply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  readonly json: unknown;
}

export function http(
  c: TlsCoordinator,
  method: string,
  path: string,
  opts: Caller & { body?: string | Buffer; contentType?: string; headers?: Record<string, string> } = {},
): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token !== undefined) headers['authorization'] = `Bearer ${opts.token}`;
    if (opts.contentType) headers['content-type'] = opts.contentType;
    if (opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(opts.body));
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: c.httpPort,
        method,
        path,
        headers,
        ca: readFileSync(c.ca.ca.cert),
        servername: 'localhost',
        agent: false,
        ...(opts.cert ? { cert: readFileSync(opts.cert.cert), key: readFileSync(opts.cert.key) } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** The error code of an HTTP error reply. */
export function errorCode(r: HttpReply): string | undefined {
  return (r.json as { error?: { code?: string } } | undefined)?.error?.code;
}

/** Opens an agent stream and sends a Hello; resolves with the first message or the refusal. */
export function openAgentStream(
  address: string,
  creds: ChannelCredentials,
  hello: { node: string; cluster?: string },
): Promise<{ ok: true; first: ConnectResponse; call: ClientDuplexStream<ConnectRequest, ConnectResponse>; client: AgentServiceClient } | { ok: false; code: number; details: string }> {
  const client = new AgentServiceClient(address, creds);
  const call = client.connect();
  return new Promise((resolve) => {
    call.once('data', (m: ConnectResponse) => resolve({ ok: true, first: m, call, client }));
    call.on('error', (e: ServiceError) => {
      client.close();
      resolve({ ok: false, code: e.code, details: e.details });
    });
    call.write({
      msg: {
        $case: 'hello',
        value: { node: hello.node, cluster: hello.cluster ?? 'web', agentVersion: 'test', bootId: `boot-${hello.node}-${Math.random()}`, protocol: PROTOCOL_VERSION, appliedVersion: 0, recentResults: [], capabilities: [] },
      },
    });
  });
}

export { silentLogger };
