// node test/dist/bench/tls-handshake.bench.js — what setting up one connection costs a bare Node
// HTTP/2 server with mutual TLS (tls-floor-server.ts; no gRPC, no lbha) in CPU, per variant of its
// TLS settings: the handshake, the client certificate's verification, the session tickets it
// issues, the HTTP/2 session and the first stream. The reconnect storm after a coordinator
// restart is that, once per agent.
//
// Every variant's server runs at the same time on core 0; a client on the other cores opens
// --batch connections to one of them (50 at a time, as tls-floor-client.ts does), the server's CPU
// time over that batch is taken, the client closes, and the next variant gets its batch: variants
// alternate batch after batch, so that a loaded machine weighs on all of them alike. Figures are
// the median over --rounds batches of the server's CPU per connection, and the ratio to the first
// variant; the client's CPU per connection beside it (its own process, on the other cores). A machine with other work inflates CPU time itself (caches, the other core's
// hyperthread): compare variants of one run, not runs.
//
// Session resumption: the variant 'resumed' issues one TLS 1.3 ticket per handshake (OpenSSL's
// NumTickets = 1) and its client offers the last ticket it got on each new connection, as an
// agent offers its last connection's on reconnect: every connection but the first of a batch
// resumes (psk_dhe_ke: a fresh ECDHE exchange, no certificates sent, parsed or verified), which
// the client counts. 'tickets-1' is the same server with clients that never resume: the cost of
// issuing the ticket on a full handshake. 'hello-full' and 'hello-resumed' add the coordinator's
// own check of each client certificate (peer-identity.ts), which both kinds of connection pay.
//
// Options: --batch N (200); --rounds R (8); --variants a,b,... (every variant by default); --out FILE.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { constants } from 'node:crypto';
import { COORDINATOR_OPENSSL_CONFIG } from '@lbha/coordinator';
import { benchLog, Children, devCertificates, fail, pinnedCommand, runDir } from './bench-process.js';
import { intOption, jsonLine, median, stringOption, table } from './bench-stats.js';
import { processTimes } from './process-sampler.js';

const argv = process.argv.slice(2);
const BATCH = intOption(argv, '--batch', 'LBHA_BENCH_BATCH', 200);
const ROUNDS = intOption(argv, '--rounds', 'LBHA_BENCH_ROUNDS', 8);
const OUT = stringOption(argv, '--out', 'LBHA_BENCH_OUT', '');
const SERVER = fileURLToPath(new URL('./tls-floor-server.js', import.meta.url));
const CLIENT = fileURLToPath(new URL('./tls-floor-client.js', import.meta.url));

interface Variant {
  readonly name: string;
  readonly flags: readonly string[];
  readonly options: Readonly<Record<string, unknown>>;
  readonly mode?: 'tls' | 'h2c';
  /** OpenSSL's NumTickets for the server process (a configuration file of the run's own). */
  readonly tickets?: number;
  /** The client offers the last session ticket it got on each connection. */
  readonly resume?: boolean;
  /** The server checks each client certificate as the coordinator does at an agent's Hello. */
  readonly hello?: boolean;
}

const ALL: readonly Variant[] = [
  { name: 'default', flags: [], options: {} },
  // OpenSSL's NumTickets = 0 for every server context of the process (the coordinator's setting):
  // TLS 1.3 servers send no NewSessionTicket. Node has no option for it.
  { name: 'no-tickets', flags: [`--openssl-config=${COORDINATOR_OPENSSL_CONFIG}`], options: {} },
  // SSL_OP_NO_TICKET: in TLS 1.3 OpenSSL then sends stateful tickets (a session ID) instead.
  // One ticket per handshake; clients that never resume, and clients that do.
  { name: 'tickets-1', flags: [], options: {}, tickets: 1 },
  { name: 'resumed', flags: [], options: {}, tickets: 1, resume: true },
  // Both with the coordinator's check of the client certificate at the Hello, which a resumed
  // connection needs as much as a full one.
  { name: 'hello-full', flags: [], options: {}, tickets: 0, hello: true },
  { name: 'hello-resumed', flags: [], options: {}, tickets: 1, resume: true, hello: true },
  { name: 'op-no-ticket', flags: [], options: { secureOptions: constants.SSL_OP_NO_TICKET } },
  // The key exchange: X25519 is what Node's client and server agree on by default.
  { name: 'group-p256', flags: [], options: { ecdhCurve: 'P-256' } },
  { name: 'tls12', flags: [], options: { maxVersion: 'TLSv1.2' } },
  // The split: TLS without asking for a client certificate, HTTP/2 without TLS.
  { name: 'server-tls', flags: [], options: { requestCert: false, rejectUnauthorized: false } },
  { name: 'h2c-only', flags: [], options: {}, mode: 'h2c' },
];
const wanted = stringOption(argv, '--variants', 'LBHA_BENCH_VARIANTS', '');
const VARIANTS = wanted === '' ? ALL : wanted.split(',').map((n) => ALL.find((v) => v.name === n) ?? fail(`--variants: no variant ${n} (${ALL.map((v) => v.name).join(', ')})`));


const log = benchLog;
const cores = availableParallelism();
const pinned = (cpus: string, args: readonly string[]): [string, string[]] => pinnedCommand(cpus, process.execPath, args);

/** Children alive now: killed on Ctrl-C or SIGTERM, with the temp dir removed. */
const children = new Children();
const track = (proc: ChildProcess): ChildProcess => children.track(proc);
const firstLine = (proc: ChildProcess): Promise<string> =>
  new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout as NodeJS.ReadableStream }).once('line', resolve);
    proc.once('exit', (code) => reject(new Error(`exited (${code}) before it answered`)));
  });

interface Server {
  readonly variant: Variant;
  readonly proc: ChildProcess;
  readonly port: number;
}

/** An OpenSSL configuration like the coordinator's (openssl.cnf) with NumTickets = n. */
function ticketsConfig(n: number): string {
  const file = join(dir, `openssl-tickets-${n}.cnf`);
  writeFileSync(file, `nodejs_conf = bench\n[bench]\nssl_conf = bench_ssl\n[bench_ssl]\nsystem_default = bench_tls\n[bench_tls]\nNumTickets = ${n}\n`);
  return `--openssl-config=${file}`;
}

async function start(variant: Variant, tlsDir: string): Promise<Server> {
  const flags = variant.tickets === undefined ? variant.flags : [...variant.flags, ticketsConfig(variant.tickets)];
  const [cmd, args] = pinned('0', [...flags, SERVER, '--tls-dir', tlsDir, '--mode', variant.mode ?? 'h2-tls', '--options', JSON.stringify(variant.options), ...(variant.hello ? ['--hello'] : [])]);
  const proc = track(spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] }));
  const port = Number(/^listening (\d+)$/.exec(await firstLine(proc))?.[1] ?? fail(`${variant.name}: the server did not listen`));
  return { variant, proc, port };
}

interface Batch {
  /** The server's CPU milliseconds per connection. */
  readonly server: number;
  /** The client's. */
  readonly client: number;
  readonly resumed: number;
}

/** The server's and the client's CPU per connection while the client opens BATCH connections. */
async function batch(server: Server, tlsDir: string): Promise<Batch> {
  const pid = server.proc.pid as number;
  const [cmd, args] = pinned(cores > 1 ? `1-${cores - 1}` : '0', [
    CLIENT,
    '--port',
    String(server.port),
    '--count',
    String(BATCH),
    '--tls-dir',
    tlsDir,
    '--mode',
    server.variant.mode ?? 'h2-tls',
    ...(server.variant.resume ? ['--resume'] : []),
  ]);
  const client = track(spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] }));
  try {
    const t0 = processTimes(pid);
    const ready = await firstLine(client);
    const t1 = processTimes(pid);
    const m = /^ready (\d+) resumed (\d+) cpu_ms ([\d.]+)$/.exec(ready);
    if (!m || Number(m[1]) !== BATCH) throw new Error(`clients: ${ready}`);
    if (!t0 || !t1) throw new Error(`${server.variant.name}: the server's CPU time cannot be read`);
    return { server: ((t1.cpuSeconds - t0.cpuSeconds) * 1000) / BATCH, client: Number(m[3]) / BATCH, resumed: Number(m[2]) };
  } finally {
    client.kill('SIGKILL');
    await new Promise((resolve) => (client.exitCode !== null || client.signalCode !== null ? resolve(undefined) : client.once('exit', resolve)));
  }
}

const dir = runDir('lbha-tls-handshake-', children);
try {
  const tlsDir = devCertificates(dir);
  const servers: Server[] = [];
  for (const variant of VARIANTS) servers.push(await start(variant, tlsDir));
  const results = new Map<string, number[]>();
  const clientResults = new Map<string, number[]>();
  const resumedCounts = new Map<string, number[]>();
  const loads: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    loads.push(loadavg()[0] ?? 0);
    const line: string[] = [];
    for (const server of servers) {
      const b = await batch(server, tlsDir);
      const name = server.variant.name;
      results.set(name, [...(results.get(name) ?? []), b.server]);
      clientResults.set(name, [...(clientResults.get(name) ?? []), b.client]);
      resumedCounts.set(name, [...(resumedCounts.get(name) ?? []), b.resumed]);
      line.push(`${name} ${b.server.toFixed(2)}/${b.client.toFixed(2)}${server.variant.resume ? ` (${b.resumed} resumed)` : ''}`);
    }
    log(`round ${round} (load ${loads[loads.length - 1]?.toFixed(1)}): CPU ms per connection, server/client: ${line.join(', ')}`);
  }
  for (const server of servers) server.proc.kill('SIGKILL');
  const rows: (string | number)[][] = [];
  for (const variant of VARIANTS) {
    const runs = results.get(variant.name) ?? [];
    // Per round, against the first variant's batch of the same round.
    const ratios = runs.map((ms, i) => ms / (results.get(VARIANTS[0]?.name ?? '')?.[i] ?? NaN));
    const ms = Math.round(median(runs.map((v) => v * 100))) / 100;
    const ratio = Math.round(median(ratios.map((r) => r * 1000))) / 1000;
    const clientRuns = clientResults.get(variant.name) ?? [];
    const clientMs = Math.round(median(clientRuns.map((v) => v * 100))) / 100;
    const clientRatios = clientRuns.map((v, i) => v / (clientResults.get(VARIANTS[0]?.name ?? '')?.[i] ?? NaN));
    const clientRatio = Math.round(median(clientRatios.map((r) => r * 1000))) / 1000;
    const resumed = resumedCounts.get(variant.name) ?? [];
    rows.push([variant.name, ms.toFixed(2), ratio.toFixed(3), clientMs.toFixed(2), clientRatio.toFixed(3), `${Math.min(...resumed)}`, runs.map((v) => v.toFixed(2)).join(' ')]);
    const record = jsonLine({
      bench: 'tls-handshake',
      variant: variant.name,
      mode: variant.mode ?? 'h2-tls',
      flags: variant.flags,
      options: variant.options,
      batch: BATCH,
      rounds: runs.length,
      load_1m: loads.map((l) => Math.round(l * 10) / 10),
      cpu_ms_per_connection: ms,
      cpu_ms_per_connection_runs: runs.map((v) => Math.round(v * 1000) / 1000),
      ratio_to_first: ratio,
      tickets: variant.tickets ?? null,
      resume: variant.resume === true,
      resumed_per_batch: resumed,
      client_cpu_ms_per_connection: clientMs,
      client_cpu_ms_per_connection_runs: clientRuns.map((v) => Math.round(v * 1000) / 1000),
      client_ratio_to_first: clientRatio,
    });
    process.stdout.write(`${record}\n`);
    if (OUT !== '') appendFileSync(OUT, `${record}\n`);
  }
  process.stdout.write(
    `\nServer and client CPU per connection set up (ms), median of ${ROUNDS} batches of ${BATCH}, load ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}; ratio: median per round against ${VARIANTS[0]?.name}; resumed: the fewest connections of a batch that resumed\n`,
  );
  process.stdout.write(`${table(['variant', 'server ms', 'ratio', 'client ms', 'ratio', 'resumed', '(server, each batch)'], rows)}\n`);
} finally {
  children.killAll();
  rmSync(dir, { recursive: true, force: true });
}
