// The kernel's view of a proxy: the accept queues of its listen sockets (/proc/net/tcp and tcp6,
// whose LISTEN lines come first, so only their head is read) and the state of its processes
// (/proc/PID/stat). Cheap enough to read every 20 ms.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { ownOpensAnswered, socketTablesRead } from './own-opens.js';
import { procState } from './proc.js';
import { readKept } from '../util/kept-file.js';

const HEAD_BYTES = 16 * 1024;
/** procfs fills at most one page per read; a /proc/net/tcp6 line is 178 bytes. */
const SEQ_PAGE_BYTES = 4096;
const MAX_LINE_BYTES = 256;
/** What a read asks for per line: a /proc/net/tcp line is 150 bytes, a tcp6 line 178. */
const LINE_BYTES = 192;
const LISTEN = '0A';

/** A children list is a few pids, one space after each. */
const CHILDREN_BUFFER = Buffer.alloc(4096);
/**
 * The pid and its children (the proxy's workers). Read through a kept descriptor
 * (util/kept-file.ts), as /proc/PID/stat is: the keepalived watch asks ten times a second. Once
 * the process is reaped the read fails and the path is opened afresh, so a recycled pid is read
 * as the new process.
 */
export function processTree(pid: number, procRoot = '/proc'): number[] {
  if (pid <= 0) return [];
  const out = [pid];
  const n = readKept(`${procRoot}/${pid}/task/${pid}/children`, CHILDREN_BUFFER, CHILDREN_BUFFER.length, 0);
  if (n <= 0) return out;
  for (const field of CHILDREN_BUFFER.toString('latin1', 0, n).split(' ')) {
    const child = Number(field);
    if (field !== '' && Number.isInteger(child) && child > 0) out.push(child);
  }
  return out;
}

/** The processes of a process group, whose leader may be gone (field 5 of /proc/N/stat). */
export function processGroup(pgid: number, procRoot = '/proc'): number[] {
  if (pgid <= 0) return [];
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync(procRoot);
  } catch {
    return out;
  }
  for (const e of entries) {
    const pid = Number(e);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    let stat: string;
    try {
      stat = readFileSync(`${procRoot}/${pid}/stat`, 'latin1');
    } catch {
      continue; // gone meanwhile
    }
    // After the command name (which may hold anything): state, ppid, pgrp.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') out.push(pid);
  }
  return out;
}

/** Inodes of the sockets the processes hold open. */
export function socketInodes(pids: readonly number[], procRoot = '/proc'): Set<string> {
  const out = new Set<string>();
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`${procRoot}/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`${procRoot}/${pid}/fd/${fd}`));
        if (m?.[1]) out.add(m[1]);
      } catch {
        // closed meanwhile
      }
    }
  }
  return out;
}

/** What the head of /proc/net/tcp or tcp6 says about the listeners among `inodes`. */
export interface ListenHead {
  /** Connections waiting in their accept queues. */
  readonly queued: number;
  /** How many of them were seen. */
  readonly listeners: number;
  /** LISTEN lines in all (every listener of the namespace): how much to read next time. */
  readonly listenLines: number;
}

/**
 * Sum of the accept queues of the LISTEN sockets among `inodes`, and how many were seen, from the
 * text of /proc/net/tcp or tcp6 (field 4 is tx_queue:rx_queue; for a listener rx_queue is the
 * accept queue). Parsing stops at the first line that is not LISTEN.
 */
export function parseListenQueues(text: string, inodes: ReadonlySet<string>): ListenHead {
  let queued = 0;
  let listeners = 0;
  let listenLines = 0;
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    // The fields up to the inode (the 10th) only.
    const f = (lines[i] ?? '').trim().split(/\s+/, 10);
    if (f.length < 10) continue;
    if (f[3] !== LISTEN) break;
    listenLines++;
    if (!inodes.has(f[9] ?? '')) continue;
    listeners++;
    queued += Number.parseInt((f[4] ?? '0:0').split(':')[1] ?? '0', 16) || 0;
  }
  return { queued, listeners, listenLines };
}

/** Whether `text` (the head of the file so far) holds a complete line past the listeners. */
function pastListeners(text: string): boolean {
  const end = text.lastIndexOf('\n');
  const start = text.lastIndexOf('\n', end - 1) + 1;
  // Only the header complete so far: the first socket line is still to come.
  if (end < 0 || start === 0) return false;
  return text.slice(start, end).trim().split(/\s+/, 4)[3] !== LISTEN;
}

const READ_BUFFER = Buffer.alloc(HEAD_BYTES);

/**
 * The head of /proc/net/tcp or tcp6, up to the first line that is not a listener. The kernel
 * formats only as many lines as a read asks for, so the read asks for the listeners seen last
 * time (`listenLines`) and two lines more, and again only while every complete line so far is a
 * listener: in a namespace with hundreds of connections a read of the listeners costs a fifth of
 * a read of the first 16 KB.
 */
function readHead(path: string, listenLines: number): string {
  const want = Math.min(HEAD_BYTES, (listenLines + 3) * LINE_BYTES);
  let text = '';
  // procfs hands out whole lines per read, at most a page of them. A read that returns less
  // than it was asked for (or than a page, minus a line) reached the end: asking again would
  // only walk the socket tables once more to return nothing, which doubles the cost of a
  // sample in a quiet namespace. The descriptor is kept (util/kept-file.ts); each read goes on
  // where the previous one ended, the first from the start.
  while (text.length < HEAD_BYTES) {
    const r = readKept(path, READ_BUFFER, want, text.length);
    if (r <= 0) break;
    text += READ_BUFFER.toString('latin1', 0, r);
    if (r < Math.min(want, SEQ_PAGE_BYTES - MAX_LINE_BYTES) || pastListeners(text)) break;
  }
  return text;
}

/** Which of /proc/net/tcp and tcp6 to read. */
export interface ListenFiles {
  readonly tcp: boolean;
  readonly tcp6: boolean;
}

export const BOTH_LISTEN_FILES: ListenFiles = { tcp: true, tcp6: true };

export interface ListenQueues {
  readonly queued: number;
  readonly listeners: number;
  /** The files, among those read, that held at least one of the listeners. */
  readonly found: ListenFiles;
  /** LISTEN lines of each file read (of the namespace, not only the proxy's). */
  readonly listenLines: { readonly tcp: number; readonly tcp6: number };
}

const NONE: ListenHead = { queued: 0, listeners: 0, listenLines: 0 };

/** LISTEN lines assumed in a file not read yet. */
const DEFAULT_LISTEN_LINES = 8;
const DEFAULT_LINES = { tcp: DEFAULT_LISTEN_LINES, tcp6: DEFAULT_LISTEN_LINES };

/**
 * Every read of /proc/net/tcp or tcp6, however short, walks the kernel's socket hash tables
 * to the next socket of the namespace: in a namespace with few sockets that is ~0.7 ms of CPU
 * per file. Callers that sample often read only the file(s) that hold their listeners, and pass
 * the LISTEN lines of the previous read so that no more than those is asked for.
 */
export function readListenQueues(
  inodes: ReadonlySet<string>,
  procRoot = '/proc',
  files: ListenFiles = BOTH_LISTEN_FILES,
  lines: { readonly tcp: number; readonly tcp6: number } = DEFAULT_LINES,
): ListenQueues {
  const a = files.tcp ? parseListenQueues(readHead(`${procRoot}/net/tcp`, lines.tcp), inodes) : NONE;
  const b = files.tcp6 ? parseListenQueues(readHead(`${procRoot}/net/tcp6`, lines.tcp6), inodes) : NONE;
  return {
    queued: a.queued + b.queued,
    listeners: a.listeners + b.listeners,
    found: { tcp: a.listeners > 0, tcp6: b.listeners > 0 },
    listenLines: { tcp: files.tcp ? a.listenLines : lines.tcp, tcp6: files.tcp6 ? b.listenLines : lines.tcp6 },
  };
}

const SNMP_BUFFER = Buffer.alloc(8192);
const TCP_LINE = Buffer.from('Tcp: ', 'latin1');
const PASSIVE_OPENS = Buffer.from(' PassiveOpens', 'latin1');
const SPACE = 0x20;
const NEWLINE = 0x0a;
/** The path of the last root asked for: no string is built per read. */
let snmpRoot = '/proc';
let snmpPath = '/proc/net/snmp';
/** The names line before " PassiveOpens" last time, and the index of its field. */
let namesBefore = Buffer.alloc(0);
let field = 0;

/** Where the line that starts with "Tcp: " begins among BUFFER's first `n` bytes, from `from` on; -1 if none. */
function tcpLine(n: number, from: number): number {
  for (let at = SNMP_BUFFER.indexOf(TCP_LINE, from); at >= 0 && at + TCP_LINE.length <= n; at = SNMP_BUFFER.indexOf(TCP_LINE, at + 1)) {
    if (at === 0 || SNMP_BUFFER[at - 1] === NEWLINE) return at;
  }
  return -1;
}

/**
 * The namespace's count of TCP connections that completed their handshake on a listener, IPv4
 * and IPv6 (Tcp PassiveOpens in /proc/net/snmp), or undefined where it cannot be read. Reading
 * it sums a few per-CPU counters (~0.015 ms), where /proc/net/tcp walks the socket tables.
 */
export function passiveOpens(procRoot = '/proc'): number | undefined {
  // Some 1.5 KB; read through a kept descriptor (util/kept-file.ts), as it is 50 times a second.
  if (procRoot !== snmpRoot) {
    snmpRoot = procRoot;
    snmpPath = `${procRoot}/net/snmp`;
  }
  const n = readKept(snmpPath, SNMP_BUFFER, SNMP_BUFFER.length, 0);
  if (n < 0) return undefined;
  // "Tcp: <names>" then "Tcp: <values>", single spaces. Parsed in the buffer: this runs 50 times
  // a second under the interpreter, and a string of the file, its lines and their split fields
  // (4.4 KB a sample) were the largest part of what the agent allocated at 10 Hz (12 %).
  const names = tcpLine(n, 0);
  const values = names < 0 ? -1 : tcpLine(n, names + 1);
  if (values < 0) return undefined;
  const name = SNMP_BUFFER.indexOf(PASSIVE_OPENS, names);
  const after = name + PASSIVE_OPENS.length;
  if (name < 0 || after >= values || (SNMP_BUFFER[after] !== SPACE && SNMP_BUFFER[after] !== NEWLINE)) return undefined;
  // The field's index is the count of spaces before it on the names line (the same for the
  // kernel's life: counted again only when the names before it differ from last time); the
  // value is after as many spaces on the values line.
  if (namesBefore.length !== name - names || SNMP_BUFFER.compare(namesBefore, 0, namesBefore.length, names, name) !== 0) {
    namesBefore = Buffer.from(SNMP_BUFFER.subarray(names, name));
    field = 0;
    for (let i = names; i <= name; i++) if (SNMP_BUFFER[i] === SPACE) field++;
  }
  let i = values;
  for (let spaces = 0; i < n && spaces < field; i++) {
    const c = SNMP_BUFFER[i] as number;
    if (c === NEWLINE) return undefined;
    if (c === SPACE) spaces++;
  }
  let v = 0;
  let digits = 0;
  for (; i < n; i++, digits++) {
    const c = SNMP_BUFFER[i] as number;
    if (c < 0x30 || c > 0x39) break;
    v = v * 10 + (c - 0x30);
  }
  const end = i < n ? (SNMP_BUFFER[i] as number) : NEWLINE;
  return digits > 0 && (end === SPACE || end === NEWLINE) ? v : undefined;
}

/**
 * Samples without a new passive open before the listen queues are taken as still empty. The
 * counter is raised just before the connection is queued, so the sample after a change reads
 * the queues once more.
 */
const QUIET_SAMPLES = 2;

/**
 * readListenQueues for one watcher.
 * - After a read of both files it reads only those that held the listeners of the same socket
 *   set, until that set changes or no listener is found (then both again). Socket sets are
 *   compared by identity (StallWatch looks them up once per process).
 * - An accept queue grows only by a connection that completed its handshake: while the queues
 *   were empty and the namespace's PassiveOpens has not moved, they are empty still, and the
 *   files are not read at all. An idle proxy costs a read of /proc/net/snmp per sample. The
 *   agent's own connections that were answered since the last read (a check of the proxy's
 *   status listener) are taken off the counter: they left their queue (own-opens.ts).
 */
export function listenQueueReader(procRoot = '/proc'): (inodes: ReadonlySet<string>) => ListenQueues {
  let forSet: ReadonlySet<string> | undefined;
  let files = BOTH_LISTEN_FILES;
  let lines = DEFAULT_LINES;
  let last: ListenQueues | undefined;
  let lastOpens: number | undefined;
  let quiet = 0;
  return (inodes) => {
    if (inodes !== forSet) {
      forSet = inodes;
      files = BOTH_LISTEN_FILES;
      last = undefined;
    }
    const passive = passiveOpens(procRoot);
    const opens = passive === undefined ? undefined : passive - ownOpensAnswered();
    quiet = opens !== undefined && opens === lastOpens ? quiet + 1 : 0;
    lastOpens = opens;
    if (last && last.queued === 0 && last.listeners > 0 && quiet >= QUIET_SAMPLES) return last;
    socketTablesRead();
    const q = readListenQueues(inodes, procRoot, files, lines);
    files = q.listeners === 0 ? BOTH_LISTEN_FILES : q.found;
    lines = q.listenLines;
    last = q;
    return q;
  };
}

/** Every process stopped or traced (and there is at least one); some process runnable. */
export function processStates(pids: readonly number[]): { stopped: boolean; runnable: boolean } {
  let stopped = pids.length > 0;
  let runnable = false;
  for (const p of pids) {
    const s = procState(p);
    // T: stopped by a signal; t: stopped by a tracer; R: running or runnable.
    if (s !== 0x54 && s !== 0x74) stopped = false;
    if (s === 0x52) runnable = true;
  }
  return { stopped, runnable };
}

/**
 * Whether a process in this state (the byte of /proc/PID/stat) was stopped by a signal (T). One
 * stopped by a tracer (t: a debugger attached, or strace at a system call) is not: whoever
 * attached holds it on purpose.
 */
export function stoppedBySignal(state: number): boolean {
  return state === 0x54;
}

/** The processes among `pids` that a signal stopped (state T; a traced one, t, is not among them). */
export function stoppedPids(pids: readonly number[]): number[] {
  const out: number[] = [];
  for (const p of pids) if (stoppedBySignal(procState(p))) out.push(p);
  return out;
}
