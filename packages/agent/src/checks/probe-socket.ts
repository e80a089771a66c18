// The TCP connection of an HTTP or TCP check: connect, write one request, read until the answer
// is known, close. With every check at 10 Hz the agent opens ten or twenty of them a second, and
// a net.Socket (a duplex stream: its state objects, listeners, the write path through Writable,
// reads through Readable.push) cost more than the connection itself: 450-550 µs of CPU per HTTP
// probe against 200-280 µs on node's TCP handle directly (the tcp_wrap binding under net.Socket;
// 2,000 probes to a local server, three runs each, under the agent's flags, load 12-15).
//
// The handle is node's internal API: where it is not there as expected (another node), or the
// host is a name to look up, a net.Socket does the same job. Both report the same events and
// the same error codes (ECONNREFUSED, ...).
import { connect, isIP } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { NOT_OWN, ownOpenAnswered, ownOpenStarted } from '../services/own-opens.js';

export interface ProbeSocketEvents {
  /** Connected: the request may be written. */
  connect(): void;
  /** Bytes arrived (the buffer is the caller's to keep). */
  data(chunk: Buffer): void;
  /** The peer closed its side. */
  end(): void;
  /** The connection failed or broke: an errno name (ECONNREFUSED) or a message. */
  error(code: string): void;
}

export interface ProbeSocket {
  write(data: Buffer): void;
  /** Closes the connection; no event follows. */
  destroy(): void;
}

interface TcpHandle {
  connect(req: object, address: string, port: number): number;
  connect6(req: object, address: string, port: number): number;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: object, data: Buffer): number;
  close(cb: () => void): void;
  onread: (buffer: ArrayBuffer | undefined) => void;
}

interface Bindings {
  readonly TCP: new (type: number) => TcpHandle;
  readonly TCPConnectWrap: new () => { oncomplete?: (status: number) => void };
  readonly SOCKET: number;
  readonly WriteWrap: new () => { handle?: TcpHandle; oncomplete?: () => void; async?: boolean };
  readonly state: Int32Array;
  readonly kReadBytesOrError: number;
  readonly kArrayBufferOffset: number;
}

/** libuv's end of stream. */
const UV_EOF = -4095;

function loadBindings(): Bindings | undefined {
  try {
    const binding = (process as unknown as { binding(name: string): Record<string, unknown> }).binding;
    const tcp = binding('tcp_wrap') as { TCP?: unknown; TCPConnectWrap?: unknown; constants?: { SOCKET?: unknown } };
    const stream = binding('stream_wrap') as { WriteWrap?: unknown; streamBaseState?: unknown; kReadBytesOrError?: unknown; kArrayBufferOffset?: unknown };
    if (
      typeof tcp.TCP !== 'function' ||
      typeof tcp.TCPConnectWrap !== 'function' ||
      typeof tcp.constants?.SOCKET !== 'number' ||
      typeof stream.WriteWrap !== 'function' ||
      !(stream.streamBaseState instanceof Int32Array) ||
      typeof stream.kReadBytesOrError !== 'number' ||
      typeof stream.kArrayBufferOffset !== 'number'
    ) {
      return undefined;
    }
    return {
      TCP: tcp.TCP as Bindings['TCP'],
      TCPConnectWrap: tcp.TCPConnectWrap as Bindings['TCPConnectWrap'],
      SOCKET: tcp.constants.SOCKET,
      WriteWrap: stream.WriteWrap as Bindings['WriteWrap'],
      state: stream.streamBaseState,
      kReadBytesOrError: stream.kReadBytesOrError,
      kArrayBufferOffset: stream.kArrayBufferOffset,
    };
  } catch {
    return undefined;
  }
}

let bindings: Bindings | null | undefined;

/** Which implementation connections to an IP address use ('handle' unless node lacks it). */
export function probeSocketKind(): 'handle' | 'net' {
  bindings ??= loadBindings() ?? null;
  return bindings ? 'handle' : 'net';
}

const errorName = (status: number): string => {
  try {
    return getSystemErrorName(status);
  } catch {
    return `error ${status}`;
  }
};

const closed = (): void => {};

function handleSocket(b: Bindings, family: 4 | 6, host: string, port: number, on: ProbeSocketEvents): ProbeSocket {
  const handle = new b.TCP(b.SOCKET);
  let open = true;
  // To a loopback address: the hung-proxy watch learns when the peer answered (own-opens.ts).
  let own = ownOpenStarted(host, family);
  const destroy = (): void => {
    if (!open) return;
    open = false;
    // The handle's callbacks must stay functions (node aborts on anything else).
    handle.onread = closed;
    handle.close(closed);
  };
  const fail = (status: number): void => {
    if (!open) return;
    destroy();
    on.error(errorName(status));
  };
  // The callbacks are made first and then assigned, never as `handle.onread = (buffer) => ...`:
  // V8 allocates a function written straight into a property in the old generation (it expects
  // a method), and a young object that an old one points to survives every scavenge until the
  // next full collection. Through the callback's scope that kept each probe's whole state (its
  // promise, closures, buffers) alive into the old space: about 1.2 KB of promoted garbage per
  // probe, half of what an agent with every check at 10 Hz promoted (docs/benchmarks.md, the
  // thirteenth round).
  const onread = (buffer: ArrayBuffer | undefined): void => {
    if (!open) return;
    const n = b.state[b.kReadBytesOrError] as number;
    if (n > 0 && own !== NOT_OWN) {
      ownOpenAnswered(own);
      own = NOT_OWN;
    }
    if (n > 0 && buffer) on.data(Buffer.from(buffer, b.state[b.kArrayBufferOffset] as number, n));
    else if (n === UV_EOF) on.end();
    else if (n < 0) fail(n);
  };
  handle.onread = onread;
  const req = new b.TCPConnectWrap();
  const oncomplete = (status: number): void => {
    if (!open) return;
    if (status < 0) return fail(status);
    const err = handle.readStart();
    if (err < 0) return fail(err);
    on.connect();
  };
  req.oncomplete = oncomplete;
  const err = family === 4 ? handle.connect(req, host, port) : handle.connect6(req, host, port);
  // As net.Socket does, a failure to start connecting is reported after the caller's turn.
  if (err < 0) process.nextTick(fail, err);
  return {
    write(data) {
      if (!open) return;
      const w = new b.WriteWrap();
      w.handle = handle;
      w.oncomplete = closed;
      w.async = false;
      const e = handle.writeBuffer(w, data);
      if (e < 0) fail(e);
    },
    destroy,
  };
}

function netSocket(host: string, port: number, on: ProbeSocketEvents): ProbeSocket {
  const sock = connect({ host, port });
  let own = ownOpenStarted(host, isIP(host));
  sock.once('connect', () => on.connect());
  sock.on('data', (c: Buffer) => {
    if (own !== NOT_OWN) {
      ownOpenAnswered(own);
      own = NOT_OWN;
    }
    on.data(c);
  });
  sock.once('end', () => on.end());
  sock.once('error', (err: NodeJS.ErrnoException) => on.error(err.code ?? err.message));
  return {
    write: (data) => void sock.write(data),
    destroy: () => {
      sock.removeAllListeners();
      // An error after the caller is done is of no interest, but must not be unhandled.
      sock.on('error', closed);
      sock.destroy();
    },
  };
}

/** Opens a connection to host:port (an IP address on node's TCP handle, a name through net.Socket). */
export function openProbeSocket(host: string, port: number, on: ProbeSocketEvents, kind: 'handle' | 'net' = probeSocketKind()): ProbeSocket {
  const family = isIP(host);
  if (kind === 'handle' && family !== 0) {
    bindings ??= loadBindings() ?? null;
    if (bindings) return handleSocket(bindings, family as 4 | 6, host, port, on);
  }
  return netSocket(host, port, on);
}
