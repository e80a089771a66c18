// The clients of the TLS floor benchmark (tls-floor.bench.ts): COUNT HTTP/2 sessions with mutual
// TLS to the bare server, each with one stream held open that sends 64 bytes a second (an
// agent's heartbeat, roughly).
//
// Usage: node tls-floor-client.js --port PORT --count N --tls-dir DIR [--mode h2-tls|tls|h2c]
//   (the server's mode: tls-floor-server.ts) [--resume]
//   --resume (h2-tls): each connection offers the TLS session of the last ticket the server
//   issued (as an agent offers its last connection's on reconnect); the first one has none.
// stdout: "ready N" once every session has its stream answered, then " resumed R" (how many of
// them resumed a session) and " cpu_ms C" (this process's CPU from the first connection to the
// last answer); then it runs until killed or until its stdin closes (the benchmark gone).
import { readFileSync } from 'node:fs';
import { connect, type ClientHttp2Session } from 'node:http2';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
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
const resume = argv.includes('--resume');
const BATCH = 50;
let ticket: Buffer | undefined;
let resumed = 0;

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
    const tlsOptions: ConnectionOptions = { ca, cert, key: certs.keyPem, checkServerIdentity: () => undefined };
    const session =
      mode === 'h2c'
        ? connect(`http://127.0.0.1:${port}`)
        : resume
          ? connect(`https://127.0.0.1:${port}`, {
              createConnection: () => {
                const socket = tlsConnect({ ...tlsOptions, host: '127.0.0.1', port, servername: 'localhost', ALPNProtocols: ['h2'], ...(ticket ? { session: ticket } : {}) });
                socket.on('session', (s: Buffer) => (ticket = s));
                socket.once('secureConnect', () => (resumed += socket.isSessionReused() ? 1 : 0));
                return socket;
              },
            })
          : connect(`https://127.0.0.1:${port}`, tlsOptions);
    session.on('error', reject);
    const stream = session.request({ ':method': 'POST', ':path': '/floor' }, { endStream: false });
    stream.on('response', () => resolve());
    stream.on('data', () => undefined);
    stream.on('error', reject);
    sessions.push(session);
    setInterval(() => stream.write(Buffer.alloc(64)), 1000 + Math.random() * 50).unref();
  });
}

const cpu0 = process.cpuUsage();
if (resume) {
  // The first connection's ticket, for the rest to offer.
  await open();
  for (let i = 0; i < 100 && !ticket; i++) await new Promise((resolve) => setTimeout(resolve, 10));
}
for (let done = sessions.length; done < count; done += BATCH) {
  const n = Math.min(BATCH, count - done);
  await Promise.all(Array.from({ length: n }, () => open()));
}
const cpu = process.cpuUsage(cpu0);
process.stdout.write(`ready ${sessions.length} resumed ${resumed} cpu_ms ${((cpu.user + cpu.system) / 1000).toFixed(1)}\n`);
