// The server side of the TLS floor benchmark (tls-floor.bench.ts): a bare Node HTTP/2 server
// with mutual TLS, no gRPC and no lbha, that keeps every stream open and answers each DATA
// frame with a few bytes (as the coordinator acknowledges heartbeats). What it costs per
// connection is the least one Node process terminating every agent's TLS can cost.
//
// Usage: node --expose-gc tls-floor-server.js --tls-dir DIR [--mode MODE] [--options JSON]
//   --mode h2-tls (HTTP/2 over mutual TLS, the default), tls (mutual TLS alone: each connection
//   answers what it reads with 8 bytes), h2c (HTTP/2 without TLS): to split the floor.
//   --options: extra http2.createSecureServer options (e.g. {"settings":{"headerTableSize":0}}).
//   --hello: each TLS connection's client certificate checked as the coordinator checks it at an
//   agent's Hello (peer-identity.ts: parsed from the connection, verified against the CA, its
//   dates and identity read); a connection whose certificate fails is closed.
// stdout: "listening PORT", then one JSON line of memory per "mem" line on stdin (after two
// full collections); "stop" on stdin ends it.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureServer, createServer as createH2cServer, type SecureServerOptions, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { certificateIdentity } from '@lbha/coordinator';
import { stringOption } from './bench-stats.js';

const argv = process.argv.slice(2);
const tlsDir = stringOption(argv, '--tls-dir', 'LBHA_BENCH_TLS_DIR', '');
const mode = stringOption(argv, '--mode', 'LBHA_BENCH_MODE', 'h2-tls');
const extra = JSON.parse(stringOption(argv, '--options', 'LBHA_BENCH_H2_OPTIONS', '{}')) as SecureServerOptions;
const hello = argv.includes('--hello');
if (tlsDir === '') throw new Error('--tls-dir is required');

const tls = {
  key: readFileSync(join(tlsDir, 'coordinator.key')),
  cert: readFileSync(join(tlsDir, 'coordinator.crt')),
  ca: readFileSync(join(tlsDir, 'ca.crt')),
  requestCert: true,
  rejectUnauthorized: true,
};
// As grpc-js sets them for the coordinator.
const h2 = { maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER, maxSessionMemory: Number.MAX_SAFE_INTEGER, ...extra };
let sessions = 0;
const server =
  mode === 'tls'
    ? createTlsServer(tls, (socket) => {
        sessions++;
        socket.on('close', () => sessions--);
        socket.on('data', () => socket.write(Buffer.alloc(8)));
        socket.on('error', () => undefined);
      })
    : mode === 'h2c'
      ? createH2cServer(h2)
      : mode === 'h2-tls'
        ? createSecureServer({ ...tls, ...h2 })
        : ((): never => {
            throw new Error(`--mode: ${mode} is none of h2-tls, tls, h2c`);
          })();
if (hello) {
  const authorities = [new X509Certificate(tls.ca)];
  server.on('secureConnection', (socket: TLSSocket) => {
    const cert = socket.getPeerX509Certificate();
    const outcome = cert ? certificateIdentity(cert, authorities, Date.now()) : { ok: false, reason: 'no client certificate' };
    if (outcome.ok) return;
    process.stderr.write(`tls-floor-server: ${outcome.reason}\n`);
    socket.destroy();
  });
}
server.on('session', (session: ServerHttp2Session) => {
  sessions++;
  session.on('close', () => sessions--);
  session.on('error', () => undefined);
});
server.on('stream', (stream: ServerHttp2Stream) => {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
  stream.on('data', () => stream.write(Buffer.alloc(8)));
  stream.on('error', () => undefined);
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : 0}\n`);
});

const gc = (globalThis as { gc?: () => void }).gc;
// The benchmark gone (its end of stdin closed): so is the server.
createInterface({ input: process.stdin }).on('close', () => process.exit(0)).on('line', (line) => {
  if (line === 'mem') {
    gc?.();
    gc?.();
    const m = process.memoryUsage();
    process.stdout.write(`${JSON.stringify({ sessions, rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external })}\n`);
  } else if (line === 'stop') {
    process.exit(0);
  }
});
