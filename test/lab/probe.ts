// The lab's client probe: run inside the client namespace (`ip netns exec NS node probe.js ...`).
// Sends one HTTP request every --interval-ms on a fresh connection (or, with --keep-alive, all on
// one kept-alive connection while the server keeps it open), with a short timeout, and writes
// one JSON line per request (success: which page and which LB answered; failure: the error, and
// whether the TCP connection had been established, i.e. a server had accepted it), so an outage
// can be measured from the client's side. With --sequential each request waits for the previous
// one (at most one in flight, one every --interval-ms at most): a SYN that is dropped stalls it
// until its timeout, as it would a real client. Stops after --duration-ms, after --count
// requests, or on SIGTERM/SIGINT, always writing a final "end" line.
import { createWriteStream, type WriteStream } from 'node:fs';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

/** Upper bound on a probe's life, whatever it is asked: a forgotten probe must not run for ever. */
const MAX_DURATION_MS = 15 * 60_000;

interface ProbeConfig {
  readonly url: URL;
  readonly host: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly durationMs: number;
  readonly count: number;
  readonly out: string;
  readonly keepAlive: boolean;
  readonly sequential: boolean;
  readonly retryReset: boolean;
}

function compileConfig(argv: readonly string[]): ProbeConfig {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      url: { type: 'string' },
      host: { type: 'string', default: '' },
      'interval-ms': { type: 'string', default: '10' },
      'timeout-ms': { type: 'string', default: '500' },
      'duration-ms': { type: 'string', default: '60000' },
      count: { type: 'string', default: '0' },
      out: { type: 'string', default: '-' },
      'keep-alive': { type: 'boolean', default: false },
      sequential: { type: 'boolean', default: false },
      'retry-reset': { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.url === undefined) throw new Error('--url is required');
  const num = (name: string, raw: string, min: number): number => {
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min) throw new Error(`--${name} must be a number >= ${min}, got ${raw}`);
    return value;
  };
  return {
    url: new URL(values.url),
    host: values.host ?? '',
    intervalMs: num('interval-ms', values['interval-ms'] ?? '10', 1),
    timeoutMs: num('timeout-ms', values['timeout-ms'] ?? '500', 1),
    durationMs: Math.min(num('duration-ms', values['duration-ms'] ?? '60000', 1), MAX_DURATION_MS),
    count: num('count', values.count ?? '0', 0),
    out: values.out ?? '-',
    keepAlive: values['keep-alive'] ?? false,
    sequential: values.sequential ?? false,
    retryReset: values['retry-reset'] ?? false,
  };
}

/** How a request on a kept-alive connection the server has just closed fails. */
const RESET_ERRORS: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'socket hang up']);

const now = (): number => performance.timeOrigin + performance.now();
const round = (ms: number): number => Math.round(ms * 100) / 100;

function main(): void {
  const config = compileConfig(process.argv.slice(2));
  const sink: NodeJS.WritableStream | WriteStream = config.out === '-' ? process.stdout : createWriteStream(config.out, { flags: 'a' });
  const write = (record: object): void => {
    sink.write(`${JSON.stringify(record)}\n`);
  };

  // One socket, reused while the server keeps it open.
  const agent = config.keepAlive ? new Agent({ keepAlive: true, maxSockets: 1 }) : false;
  let seq = 0;
  let inFlight = 0;
  let succeeded = 0;
  let failed = 0;
  let stopping = false;
  const started = now();
  write({ type: 'start', t: round(started), url: config.url.href, intervalMs: config.intervalMs, timeoutMs: config.timeoutMs, sequential: config.sequential });

  const finish = (): void => {
    write({ type: 'end', t: round(now()), sent: seq, ok: succeeded, failed });
    if (sink === process.stdout) {
      process.exit(0);
    } else {
      (sink as WriteStream).end(() => process.exit(0));
    }
  };
  const maybeFinish = (): void => {
    if (stopping && inFlight === 0) finish();
  };
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    maybeFinish();
    // In-flight requests end by their own timeout; this is only a backstop.
    setTimeout(finish, config.timeoutMs + 1000).unref();
  };

  const send = (onDone?: () => void, retryOf?: { readonly id: number; readonly t0: number; readonly error: string }): void => {
    const id = retryOf?.id ?? ++seq;
    const t0 = retryOf?.t0 ?? now();
    if (!retryOf) inFlight += 1;
    let done = false;
    let connected = false;
    let reused = false;
    const complete = (record: Record<string, unknown>): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      // --retry-reset: a reused kept-alive connection the server closed just as this request
      // went out (no response byte came back) is retried once on a new connection, as HTTP
      // clients do for idempotent requests (RFC 9112 9.3.1); the record says so.
      if (config.retryReset && !retryOf && reused && record.ok !== true && record.status === undefined && RESET_ERRORS.has(String(record.error))) {
        send(onDone, { id, t0, error: String(record.error) });
        return;
      }
      inFlight -= 1;
      if (record.ok === true) succeeded += 1;
      else failed += 1;
      write({ seq: id, t: round(t0), ms: round(now() - t0), ...record, ...(record.ok === true ? {} : { connected }), ...(retryOf ? { retriedAfter: retryOf.error } : {}) });
      maybeFinish();
      onDone?.();
    };
    const req = request(config.url, {
      method: 'GET',
      agent,
      headers: { ...(config.keepAlive ? {} : { Connection: 'close' }), ...(config.host ? { Host: config.host } : {}) },
    });
    const timer = setTimeout(() => {
      complete({ ok: false, error: 'timeout' });
      req.destroy();
    }, config.timeoutMs);
    req.on('socket', (socket) => {
      socket.setNoDelay(true);
      // A reused kept-alive socket is connected already.
      if (!socket.connecting) connected = reused = true;
      else socket.once('connect', () => (connected = true));
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < 4096) chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const page = Buffer.concat(chunks).toString('utf8').trim().slice(0, 200);
        const lbHeader = res.headers['x-lbha-node'];
        const lb = Array.isArray(lbHeader) ? lbHeader[0] : lbHeader;
        if (status >= 200 && status < 300) complete({ ok: true, status, page, lb });
        else complete({ ok: false, status, lb, error: `HTTP ${status}` });
      });
      res.on('error', (err: NodeJS.ErrnoException) => complete({ ok: false, error: err.code ?? err.message }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => complete({ ok: false, error: err.code ?? err.message }));
    req.end();
  };

  // Sequential: the next request leaves when the previous one is done, one interval after the
  // previous one left at the earliest.
  const next = (): void => {
    if (stopping) return;
    const t = now();
    if (t - started >= config.durationMs || (config.count > 0 && seq >= config.count)) {
      stop();
      return;
    }
    const sentAt = t;
    send(() => setTimeout(next, Math.max(0, sentAt + config.intervalMs - now())));
  };

  let slot = 0;
  const tick = (): void => {
    if (stopping) return;
    const t = now();
    if (t - started >= config.durationMs || (config.count > 0 && seq >= config.count)) {
      stop();
      return;
    }
    send();
    // Fixed rate: the next slot is computed from the start, and slots missed while the event loop
    // was busy are skipped rather than sent in a burst.
    slot = Math.max(slot + 1, Math.floor((now() - started) / config.intervalMs));
    setTimeout(tick, Math.max(0, started + slot * config.intervalMs - now()));
  };

  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (config.sequential) next();
  else tick();
}

main();
