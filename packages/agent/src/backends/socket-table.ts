// The connections a node has open to each backend server, from the kernel's socket table
// (/proc/net/tcp and tcp6 of the agent's network namespace): open-source nginx has no API that
// says how many sessions an upstream server has. A connection counts while it can still carry a
// request: established, connecting, or closed by the server but not yet by the proxy. Counts
// are keyed by serverAddressKey (@lbha/shared).
import { readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { serverAddressKey } from '@lbha/shared';
import { join } from 'node:path';

// TCP states (include/net/tcp_states.h) that count as an open session: 01 established, 02
// SYN sent, 08 close-wait.

/** The kernel prints addresses as host-order 32-bit words: on little-endian hosts, bytes reversed. */
const LITTLE_ENDIAN = endianness() === 'LE';

function networkOrder(word: string): string[] {
  const bytes = word.match(/../g) ?? [];
  return LITTLE_ENDIAN ? bytes.reverse() : bytes;
}

function hexToIPv4(hex: string): string {
  return networkOrder(hex)
    .map((b) => Number.parseInt(b, 16))
    .join('.');
}

function hexToIPv6(hex: string): string {
  const words = (hex.toLowerCase().match(/.{8}/g) ?? []).map((w) => networkOrder(w).join(''));
  const groups = words.join('').match(/.{4}/g) ?? [];
  const text = groups.map((g) => g.replace(/^0+(?=.)/, '')).join(':');
  if (/^0:0:0:0:0:ffff:/.test(text)) {
    const tail = words[3] ?? '00000000';
    return (tail.match(/../g) ?? []).map((b) => Number.parseInt(b, 16)).join('.');
  }
  return text;
}

const SPACE = 0x20;
const ZERO = 0x30;

/** Whether the two characters at `at` are an open state (01, 02 or 08) ending the field. */
function openStateAt(line: string, at: number): boolean {
  if (line.charCodeAt(at) !== ZERO) return false;
  const c = line.charCodeAt(at + 1);
  if (c !== 0x31 && c !== 0x32 && c !== 0x38) return false;
  const end = line.charCodeAt(at + 2);
  return Number.isNaN(end) || end === SPACE;
}

/**
 * Parses /proc/net/tcp or tcp6 text into open connections per remote "ip:port". The fields of a
 * line ("sl: local remote st ...", one space apart) are found without splitting it, and only an
 * open connection's remote address is taken out: at 10 Hz the table holds some 200 lines, most of
 * them the probes' closed connections in TIME_WAIT, read every second (splitting each whole line
 * was, under check churn, a third of what the agent allocated).
 */
export function countOpenByRemote(text: string, into: Map<string, number> = new Map()): Map<string, number> {
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(': ');
    if (colon < 0) continue;
    const remoteAt = line.indexOf(' ', colon + 2) + 1;
    const stateAt = remoteAt > 0 ? line.indexOf(' ', remoteAt) + 1 : 0;
    if (stateAt <= 0 || !openStateAt(line, stateAt)) continue;
    const remote = line.slice(remoteAt, stateAt - 1);
    const [hex, portHex] = remote.split(':');
    if (!hex || !portHex) continue;
    const host = hex.length === 8 ? hexToIPv4(hex) : hexToIPv6(hex);
    const port = Number.parseInt(portHex, 16);
    const key = serverAddressKey(host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
    into.set(key, (into.get(key) ?? 0) + 1);
  }
  return into;
}

/**
 * The namespace's TCP sockets in use for IPv4 and IPv6 ("TCP: inuse N" in /proc/net/sockstat,
 * "TCP6: inuse N" in sockstat6): every socket hashed in the kernel's tables, listening or
 * connected (established, connecting, close-wait: every state that counts as a session), and not
 * the TIME_WAIT ones. undefined where the file or the line cannot be read.
 */
export async function tcpInUse(procNet: string, file: 'sockstat' | 'sockstat6'): Promise<number | undefined> {
  const text = await readFile(join(procNet, file), 'utf8').catch(() => '');
  const m = (file === 'sockstat' ? /^TCP: inuse (\d+)/m : /^TCP6: inuse (\d+)/m).exec(text);
  return m ? Number(m[1]) : undefined;
}

/**
 * Reads the socket tables of the current network namespace (`procNet`: /proc/net, replaceable in
 * tests). A read of /proc/net/tcp or tcp6, whatever it holds, walks the kernel's whole
 * established hash, which all namespaces share (5.7 ms of CPU for an empty tcp6 on the
 * development machine, and 13 ms for a tcp of 1,815 lines, nearly all the probes' TIME_WAIT):
 * a family whose sockstat counts no TCP socket in use has no connection to count, and its table
 * is not read. Where sockstat cannot be read, both tables are.
 */
export async function openConnections(procNet = '/proc/net'): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const [file, stat] of [['tcp', 'sockstat'], ['tcp6', 'sockstat6']] as const) {
    if ((await tcpInUse(procNet, stat)) === 0) continue;
    const text = await readFile(join(procNet, file), 'utf8').catch(() => '');
    countOpenByRemote(text, counts);
  }
  return counts;
}
