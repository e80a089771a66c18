// Client-side instruments beyond the probe: the client's neighbour entry for a VIP (which MAC it
// sends to after a move), a node's MAC, and wrk (kept-alive connections from a client that does
// not retry: a cut connection is an error, not a silent reconnect; a stalled one shows as silence).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runCommand, runInNamespace } from './run-command.js';
import { LabCommandError, LabUsageError } from './errors.js';

export interface NeighbourEntry {
  readonly address: string;
  /** Link-layer address, absent while unresolved or failed. */
  readonly mac: string | undefined;
  /** REACHABLE, STALE, DELAY, PROBE, FAILED, INCOMPLETE, PERMANENT... */
  readonly state: string;
}

/** The neighbour entry for `address` in namespace `ns` (undefined: none). */
export async function neighbourEntry(ns: string, address: string): Promise<NeighbourEntry | undefined> {
  const out = await runCommand('ip', ['-n', ns, '-j', 'neigh', 'show', address]);
  if (out.code !== 0) return undefined;
  const list = JSON.parse(out.stdout || '[]') as Array<{ dst?: string; lladdr?: string; state?: string[] }>;
  const n = list.find((e) => e.dst === address);
  return n ? { address, mac: n.lladdr, state: (n.state ?? []).join(',') } : undefined;
}

/** The MAC address of an interface in a namespace. */
export async function linkMac(ns: string, iface: string): Promise<string> {
  const out = await runCommand('ip', ['-n', ns, '-j', 'link', 'show', 'dev', iface]);
  if (out.code !== 0) throw new LabCommandError(['ip', '-n', ns, 'link', 'show', iface], out.code, out.stderr);
  const mac = (JSON.parse(out.stdout) as Array<{ address?: string }>)[0]?.address;
  if (!mac) throw new LabCommandError(['ip', '-n', ns, 'link', 'show', iface], out.code, 'no address');
  return mac;
}

export interface WrkOptions {
  /** Open connections (kept alive unless `close`). */
  readonly connections: number;
  readonly durationS: number;
  readonly threads?: number;
  /** Send `Connection: close`: every request on a new connection. */
  readonly close?: boolean;
  readonly host?: string;
  /** wrk's own per-request timeout; default 2 s. */
  readonly timeoutS?: number;
  /**
   * Pause between the requests of each connection (a wrk script's delay()): connections that
   * live long at a modest rate, as a browser's do, instead of racing through a proxy's
   * per-connection request limit.
   */
  readonly delayMs?: number;
  /**
   * One wrk thread per connection, so that `longestSilenceMs` is each connection's own: with
   * several connections on a thread, one that stalls hides behind the others' answers.
   */
  readonly perConnection?: boolean;
}

export interface WrkResult {
  readonly requests: number;
  readonly connectErrors: number;
  readonly readErrors: number;
  readonly writeErrors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly latencyMaxMs: number;
  /** Every error wrk counted. */
  readonly errors: number;
  /**
   * The longest time one wrk thread went without an answer, up to the end of the run (ms; one
   * connection's with `perConnection`). wrk counts a timeout only for a request that is answered
   * late: a connection whose request is never answered adds no error and no request, and shows
   * only here.
   */
  readonly longestSilenceMs: number;
}

function toMs(v: string, unit: string): number {
  const n = Number(v);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n;
}

/** Parses wrk's report. */
export function parseWrk(text: string): WrkResult {
  const num = (re: RegExp): number => Number(re.exec(text)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const lat = /Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)/.exec(text);
  const r = {
    requests: num(/(\d+) requests in/),
    connectErrors: Number(sock?.[1] ?? 0),
    readErrors: Number(sock?.[2] ?? 0),
    writeErrors: Number(sock?.[3] ?? 0),
    timeouts: Number(sock?.[4] ?? 0),
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
    latencyMaxMs: lat ? toMs(lat[1] ?? '0', lat[2] ?? 'ms') : 0,
  };
  const silences = [...text.matchAll(/^lbha-silence \d+ (\d+)$/gm)].map((m) => Number(m[1]));
  return { ...r, errors: r.connectErrors + r.readErrors + r.writeErrors + r.timeouts + r.non2xx, longestSilenceMs: Math.max(0, ...silences) };
}

/**
 * wrk's script: each thread notes the longest time between two answers (from its start, and to
 * the end of the run) on the monotonic clock through LuaJIT's FFI, and `done` prints one line per
 * thread; `delay` when asked for.
 */
function wrkScript(delayMs: number | undefined): string {
  return `local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } lbha_timespec;
int clock_gettime(int clk, lbha_timespec *tp);
]]
local ts = ffi.new("lbha_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + math.floor(tonumber(ts.tv_nsec) / 1000000)
end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) last = now_ms(); longest = 0 end
function response(status, headers, body)
  local t = now_ms()
  if t - last > longest then longest = t - last end
  last = t
end
function done(summary, latency, requests)
  local t = now_ms()
  for i, th in ipairs(threads) do
    local l = th:get("longest")
    if t - th:get("last") > l then l = t - th:get("last") end
    io.write(string.format("lbha-silence %d %d\\n", i, l))
  end
end
${delayMs === undefined ? '' : `function delay()\n  return ${delayMs}\nend\n`}`;
}

/** Runs wrk in `ns` against `url` for the duration (bounded) and returns its figures. */
export async function runWrk(ns: string, url: string, o: WrkOptions): Promise<WrkResult> {
  const duration = Math.max(1, Math.min(900, Math.round(o.durationS)));
  if (o.delayMs !== undefined && (!Number.isInteger(o.delayMs) || o.delayMs < 0)) throw new LabUsageError(`wrk delayMs must be a whole number of milliseconds, not ${o.delayMs}`);
  const script = join(mkdtempSync(join(tmpdir(), 'lbha-wrk-')), 'client.lua');
  writeFileSync(script, wrkScript(o.delayMs));
  const args = [
    '-t', String(o.perConnection ? o.connections : (o.threads ?? 1)),
    '-c', String(o.connections),
    '-d', `${duration}s`,
    '--timeout', `${o.timeoutS ?? 2}s`,
    ...(o.host ? ['-H', `Host: ${o.host}`] : []),
    ...(o.close ? ['-H', 'Connection: close'] : []),
    '-s', script,
    url,
  ];
  const out = await runInNamespace(ns, 'wrk', args, { timeoutMs: (duration + 30) * 1000 }).finally(() => rmSync(dirname(script), { recursive: true, force: true }));
  if (out.code !== 0) throw new LabCommandError(['wrk', ...args], out.code, out.stderr || out.stdout);
  return parseWrk(out.stdout);
}
