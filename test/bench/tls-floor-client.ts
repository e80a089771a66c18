// The clients of the TLS floor benchmark (tls-floor.bench.ts): COUNT HTTP/2 sessions with mutual
// TLS to the bare server, each with one stream held open that sends 64 bytes a second (an
// agent's heartbeat, roughly).
//
// Usage: node tls-floor-client.js --port PORT --count N --tls-dir DIR [--mode h2-tls|tls|h2c]
//   (the server's mode: tls-floor-server.ts)
// stdout: "ready N" once every session has its stream answered; then it runs until killed or
// until its stdin closes (the benchmark gone).
import { readFileSync } from 'node:fs';
import { connect, type ClientHttp2Session } from 'node:http2';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { agentCertificates } from './bench-certs.js';
import { intOption, stringOption } from './bench-stats.js';

const argv = process.argv.slice(2);
const port = intOption(argv, '--port', 'LBHA_BENCH_PORT', 0);
const count = intOption(argv, '--count', 'LBHA_BENCH_COUNT', 100);
const tlsDir = stringOption(argv, '--tls-dir', 'LBHA_BENCH_TLS_DIR', '');
const certs = agentCertificates(join(tlsDir, 'ca.crt'), join(tlsDir, 'ca.key'));
const cert = certs.certFor('floor-0');
const ca = readFileSync(join(tlsDir, 'ca.crt'));
const mode = stringOption(argv, '--mode', 'LBHA_BENCH_MODE', 'h2-tls');
const BATCH = 50;

const sessions: (ClientHttp2Session | TLSSocket)[] = [];
process.stdin.on('close', () => process.exit(0)).resume();

function open(): Promise<void> {
  if (mode === 'tls') {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, ca, cert, key: certs.keyPem, checkServerIdentity: () => undefined }, () => resolve());
      socket.on('error', reject);
      socket.on('data', () => undefined);
      sessions.push(socket);
      setInterval(() => socket.write(Buffer.alloc(64)), 1000 + Math.random() * 50).unref();
    });
  }
  return new Promise((resolve, reject) => {
    const session =
      mode === 'h2c' ? connect(`http://127.0.0.1:${port}`) : connect(`https://127.0.0.1:${port}`, { ca, cert, key: certs.keyPem, checkServerIdentity: () => undefined });
    session.on('error', reject);
    const stream = session.request({ ':method': 'POST', ':path': '/floor' }, { endStream: false });
    stream.on('response', () => resolve());
    stream.on('data', () => undefined);
    stream.on('error', reject);
    sessions.push(session);
    setInterval(() => stream.write(Buffer.alloc(64)), 1000 + Math.random() * 50).unref();
  });
}

for (let done = 0; done < count; done += BATCH) {
  const n = Math.min(BATCH, count - done);
  await Promise.all(Array.from({ length: n }, () => open()));
}
process.stdout.write(`ready ${sessions.length}\n`);
