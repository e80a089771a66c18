// haproxy's backends through its runtime API (the stats socket): `show servers state` for each
// server's admin state, operational state and weights, `show stat` for its sessions and check
// status; `set server B/S state ...` and `set weight B/S N` to change them. Parsers are pure and
// tested against the output of a real haproxy 2.6 (test/fixtures/haproxy-2.6/).
import { serverNameProblem, type BackendAdmin, type BackendHealth, type BackendServer } from '@lbha/shared';
import { showStatServers } from '../services/haproxy-stats.js';

/** One row of `show servers state` (format version 1). */
export interface HaproxyServerState {
  readonly pool: string;
  readonly server: string;
  readonly address: string;
  /** 0 stopped, 1 starting, 2 running, 3 stopping. */
  readonly opState: number;
  /** SRV_ADMF_* bits: 0x01 forced maint, 0x02 inherited maint, 0x04 config maint, 0x08 forced drain, 0x10 inherited drain, 0x20 resolution maint, 0x40 hostname maint. */
  readonly adminBits: number;
  /** The weight in force (set weight changes it). */
  readonly userWeight: number;
  /** The weight of the configuration. */
  readonly initialWeight: number;
  /** CHK_ST_* bits: 0x2 enabled, 0x8 paused. */
  readonly checkState: number;
}

const FORCED_MAINT = 0x01;
const FORCED_DRAIN = 0x08;
const ANY_MAINT = 0x01 | 0x02 | 0x04 | 0x20 | 0x40;
const ANY_DRAIN = 0x08 | 0x10;
const CHECK_ENABLED = 0x02;
const CHECK_PAUSED = 0x08;

/** Parses `show servers state`: a version line, a `#` header naming the columns, one row per server. */
export function parseServersState(text: string): HaproxyServerState[] {
  const lines = text.split('\n').map((l) => l.trim());
  const header = lines.find((l) => l.startsWith('#'))?.replace(/^#\s*/, '').split(/\s+/) ?? [];
  const col = (name: string) => header.indexOf(name);
  const c = {
    pool: col('be_name'),
    server: col('srv_name'),
    addr: col('srv_addr'),
    port: col('srv_port'),
    op: col('srv_op_state'),
    admin: col('srv_admin_state'),
    uweight: col('srv_uweight'),
    iweight: col('srv_iweight'),
    check: col('srv_check_state'),
  };
  if (Object.values(c).some((i) => i < 0)) return [];
  const out: HaproxyServerState[] = [];
  for (const line of lines) {
    if (line === '' || line.startsWith('#') || /^\d+$/.test(line)) continue;
    const f = line.split(/\s+/);
    const at = (i: number) => f[i] ?? '';
    const port = at(c.port);
    const addr = at(c.addr);
    out.push({
      pool: at(c.pool),
      server: at(c.server),
      address: port === '' || port === '0' ? addr : `${addr.includes(':') ? `[${addr}]` : addr}:${port}`,
      opState: Number(at(c.op)),
      adminBits: Number(at(c.admin)),
      userWeight: Number(at(c.uweight)),
      initialWeight: Number(at(c.iweight)),
      checkState: Number(at(c.check)),
    });
  }
  return out;
}

/** Per "backend/server" of `show stat`: current sessions and the check status. */
export interface HaproxyServerStat {
  readonly sessions: number;
  readonly check: string;
}

/** Parses the server rows of `show stat` (CSV with a `# ` header). */
export function parseStatServers(csv: string): Map<string, HaproxyServerStat> {
  const { columns, rows } = showStatServers(csv);
  const scur = columns.indexOf('scur');
  const check = columns.indexOf('check_status');
  const out = new Map<string, HaproxyServerStat>();
  if (scur < 0) return out;
  for (const [key, f] of rows) out.set(key, { sessions: Number(f[scur]) || 0, check: (check < 0 ? '' : (f[check] ?? '')).replace(/^\* /, '') });
  return out;
}

/** The admin state in force: maintenance wins over drain, whatever set it (API, config, a tracked server). */
export function adminOf(s: HaproxyServerState): BackendAdmin {
  if (s.adminBits & ANY_MAINT) return 'maint';
  if (s.adminBits & ANY_DRAIN) return 'drain';
  return 'ready';
}

/** What `set server ... state` set: the forced bits only, which are the ones lbha can change. */
export function forcedAdminOf(s: HaproxyServerState): BackendAdmin {
  if (s.adminBits & FORCED_MAINT) return 'maint';
  if (s.adminBits & FORCED_DRAIN) return 'drain';
  return 'ready';
}

/** Up or down by haproxy's checks; unknown for servers without checks or in maintenance (not checked). */
export function healthOf(s: HaproxyServerState): BackendHealth {
  if ((s.checkState & CHECK_ENABLED) === 0 || s.checkState & CHECK_PAUSED || s.adminBits & ANY_MAINT) return 'unknown';
  return s.opState === 0 ? 'down' : 'up';
}

/** The servers as lbha reports them; rows whose names lbha cannot carry are left out. */
export function haproxyServers(states: readonly HaproxyServerState[], stats: ReadonlyMap<string, HaproxyServerStat>): BackendServer[] {
  const out: BackendServer[] = [];
  for (const s of states) {
    if (serverNameProblem(s.pool) || serverNameProblem(s.server)) continue;
    const st = stats.get(`${s.pool}/${s.server}`);
    out.push({
      pool: s.pool,
      server: s.server,
      address: s.address,
      admin: adminOf(s),
      health: healthOf(s),
      weight: s.userWeight,
      sessions: st?.sessions ?? 0,
      check: st?.check ?? '',
      managed: true,
    });
  }
  return out;
}

/**
 * The runtime commands that take a server from what it runs to what is wanted (none when it is
 * there already). `weight` undefined: the configured weight.
 */
export function haproxyCommandsFor(s: HaproxyServerState, admin: BackendAdmin, weight: number | undefined): string[] {
  const out: string[] = [];
  const target = `${s.pool}/${s.server}`;
  if (forcedAdminOf(s) !== admin) out.push(`set server ${target} state ${admin}`);
  const w = weight ?? s.initialWeight;
  if (s.userWeight !== w) out.push(`set weight ${target} ${w}`);
  return out;
}

/** haproxy answers a successful `set` with nothing (or a blank line); anything else is its error. */
export function runtimeError(reply: string | undefined): string | undefined {
  if (reply === undefined) return 'no answer from the stats socket';
  const text = reply.trim();
  return text === '' ? undefined : text;
}
