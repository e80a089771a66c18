// How long haproxy may take to send to its servers again once they answer, after its checks
// marked them DOWN (docs/design/vrrp-edges.md, "A failure every node shares"). A server DOWN with
// its check's health counter at 0 is checked every `downinter`; the first good check raises the
// counter and the next ones come every `fastinter`; at `rise` good checks it is UP. So it serves
// again at most downinter + (rise - 1) x fastinter after it answers (each of them `inter` when not
// set), and in a failure every node shared, one node's haproxy may do so that much later than
// another's (each checks on its own phase, and a counter may stand at 1 on one node, 0 on the
// other). The runtime API tells which servers are checked and their rise (`show stat`); the
// intervals are in the configuration only. Pure.
import { showStatServers } from '../services/haproxy-stats.js';

/** A server's check intervals as its configuration sets them (haproxy's default inter is 2 s). */
export interface CheckIntervals {
  readonly interMs: number;
  /** undefined: inter. */
  readonly fastInterMs: number | undefined;
  /** undefined: inter. */
  readonly downInterMs: number | undefined;
}

/** haproxy's `inter` when neither the server nor a default-server sets one. */
export const HAPROXY_DEFAULT_INTER_MS = 2_000;
const DEFAULTS: CheckIntervals = { interMs: HAPROXY_DEFAULT_INTER_MS, fastInterMs: undefined, downInterMs: undefined };

const UNITS: Readonly<Record<string, number>> = { us: 0.001, ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A haproxy time ("500", "500ms", "2s", "1m"; milliseconds when no unit); undefined when it is not one. */
export function haproxyTimeMs(text: string): number | undefined {
  const m = /^(\d+)(us|ms|s|m|h|d)?$/.exec(text);
  if (!m) return undefined;
  return Math.ceil(Number(m[1]) * (UNITS[m[2] ?? 'ms'] ?? 1));
}

/** The intervals a server (or default-server) line's words set over `base`. */
function intervalsOf(words: readonly string[], base: CheckIntervals): CheckIntervals {
  let out = base;
  for (let i = 0; i < words.length - 1; i++) {
    const ms = haproxyTimeMs(words[i + 1] as string);
    if (ms === undefined) continue;
    if (words[i] === 'inter') out = { ...out, interMs: ms };
    else if (words[i] === 'fastinter') out = { ...out, fastInterMs: ms };
    else if (words[i] === 'downinter') out = { ...out, downInterMs: ms };
  }
  return out;
}

/** Section keywords: a line starting with one ends the section before it. */
const SECTIONS: ReadonlySet<string> = new Set(['global', 'defaults', 'frontend', 'backend', 'listen', 'peers', 'resolvers', 'userlist', 'mailers', 'program', 'http-errors', 'ring', 'cache', 'fcgi-app', 'crt-store', 'traces']);

/**
 * Per "backend/server" (a server-template's as "backend/prefix*"), the check intervals of the
 * configuration's statements (canonicalHaproxy's lines): a server line's own, over its proxy's
 * default-server lines before it, over those of the defaults section it uses (named with `from`,
 * else the last one before it). Only the file the agent is given: a configuration split over
 * several files (-f DIR) is read in part, and a server it does not name gets haproxy's defaults.
 */
export function haproxyCheckIntervals(lines: readonly string[]): Map<string, CheckIntervals> {
  const out = new Map<string, CheckIntervals>();
  const named = new Map<string, CheckIntervals>();
  let lastDefaults = DEFAULTS;
  let section = '';
  let proxy = '';
  let current = DEFAULTS;
  const closeDefaults = (): void => {
    if (section !== 'defaults') return;
    lastDefaults = current;
    if (proxy !== '') named.set(proxy, current);
  };
  for (const line of lines) {
    const words = line.split(' ');
    const head = words[0] as string;
    if (SECTIONS.has(head)) {
      closeDefaults();
      section = head;
      proxy = words[1] !== undefined && words[1] !== 'from' ? words[1] : '';
      const from = words.indexOf('from');
      const parent = from > 0 && words[from + 1] !== undefined ? named.get(words[from + 1] as string) : undefined;
      // A defaults section starts from haproxy's own defaults, a proxy from the last defaults section.
      current = parent ?? (head === 'defaults' ? DEFAULTS : lastDefaults);
      continue;
    }
    if (head === 'default-server' && (section === 'defaults' || section === 'backend' || section === 'listen')) {
      current = intervalsOf(words.slice(1), current);
    } else if ((head === 'server' || head === 'server-template') && (section === 'backend' || section === 'listen') && words[1] !== undefined) {
      out.set(`${proxy}/${words[1]}${head === 'server-template' ? '*' : ''}`, intervalsOf(words.slice(2), current));
    }
  }
  closeDefaults();
  return out;
}

/** The intervals of "backend/server": its own line, else a server-template's whose prefix it has, else haproxy's defaults. */
function intervalsFor(key: string, intervals: ReadonlyMap<string, CheckIntervals>): CheckIntervals {
  const own = intervals.get(key);
  if (own) return own;
  for (const [k, v] of intervals) {
    if (!k.endsWith('*')) continue;
    const prefix = k.slice(0, -1);
    if (key.startsWith(prefix) && /^\d+$/.test(key.slice(prefix.length))) return v;
  }
  return DEFAULTS;
}

/** One checked server's readmission: what it is, and from what. */
export interface ServerReadmission {
  readonly key: string;
  readonly ms: number;
  readonly rise: number;
  readonly downInterMs: number;
  readonly fastInterMs: number;
}

/**
 * The servers haproxy checks (by `show stat`: a rise, and neither "no check" nor in maintenance,
 * which is not checked and comes back UP at once when it leaves it), each with the longest time
 * it may take to be sent to again once it answers: downinter + (rise - 1) x fastinter.
 */
export function haproxyReadmissions(showStat: string, intervals: ReadonlyMap<string, CheckIntervals>): ServerReadmission[] {
  const { columns, rows } = showStatServers(showStat);
  const status = columns.indexOf('status');
  const riseAt = columns.indexOf('check_rise');
  if (status < 0 || riseAt < 0) return [];
  const out: ServerReadmission[] = [];
  for (const [key, f] of rows) {
    const rise = Number(f[riseAt] ?? '');
    const st = f[status] ?? '';
    if (!(rise >= 1) || st === 'no check' || st.startsWith('MAINT')) continue;
    const i = intervalsFor(key, intervals);
    const downInterMs = i.downInterMs ?? i.interMs;
    const fastInterMs = i.fastInterMs ?? i.interMs;
    out.push({ key, ms: downInterMs + (rise - 1) * fastInterMs, rise, downInterMs, fastInterMs });
  }
  return out;
}

/** The longest readmission of haproxy's checked servers; 0 when it checks none. */
export function haproxyReadmitMs(showStat: string, intervals: ReadonlyMap<string, CheckIntervals>): number {
  return Math.max(0, ...haproxyReadmissions(showStat, intervals).map((r) => r.ms));
}
