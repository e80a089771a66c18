// What a valid spec risks: settings lbha accepts but that keep clients on errors longer than
// they need to, or checks that cannot see what clients see. A warning refuses nothing; validation
// and apply answer with it beside the changes, and an apply records it in the event log. Pure:
// spec in, warnings out (spec-check.ts finds their lines).
import { formatPath, serverAddressKey, urlForDisplay, type ConfigIssue, type Locate } from '@lbha/shared';
import { isIP } from 'node:net';
import { MAX_READMIT_MS, NGINX_DEFAULT_FAIL_TIMEOUT_MS } from '../shared-failure.js';
import type { ClusterSpec, Spec } from './cluster-spec.js';

/** One warning: the field it is about (as a path into the document), its cluster, and why. */
export interface SpecWarning {
  readonly path: ReadonlyArray<string | number>;
  readonly cluster: string;
  readonly message: string;
}

const RECOMMENDED = 'fail_timeout: 1s with a shared zone is recommended';

function seconds(ms: number): string {
  return `${ms / 1000}s`;
}

/** nginx's memory of failed servers, per server whose line lbha renders. */
function failTimeoutWarnings(c: ClusterSpec, ci: number): SpecWarning[] {
  const out: SpecWarning[] = [];
  c.backends.pools.forEach((p, pi) => {
    p.servers.forEach((s, si) => {
      if (s.maxFails === 0) return;
      const ms = s.failTimeoutMs ?? NGINX_DEFAULT_FAIL_TIMEOUT_MS;
      if (ms + 1_000 <= MAX_READMIT_MS) return;
      out.push({
        path: ['clusters', ci, 'backends', 'pools', pi, 'servers', si, 'fail_timeout'],
        cluster: c.name,
        message:
          `cluster ${c.name}, pool ${p.name}, server ${s.name}: fail_timeout ${seconds(ms)}${s.failTimeoutMs === null ? " (not set: nginx's default)" : ''}: ` +
          `once nginx marks the server failed, clients get 502 for up to ${(ms + 1_000) / 1000} s after a failure every node shared ends, however soon the server answers again, ` +
          `and the way out of it allows ${MAX_READMIT_MS / 1000} s for nginx's readmission; ${RECOMMENDED} (max_fails: 0 never marks it failed)`,
      });
    });
  });
  return out;
}

/** A pool whose servers nginx can mark failed, without a zone the workers share. */
function zoneWarnings(c: ClusterSpec, ci: number): SpecWarning[] {
  const out: SpecWarning[] = [];
  c.backends.pools.forEach((p, pi) => {
    if (p.sharedZone) return;
    const marked = p.servers.filter((s) => s.maxFails !== 0);
    if (marked.length === 0) return;
    const names = marked.length > 3 ? `${marked.slice(0, 3).map((s) => s.name).join(', ')} and ${marked.length - 3} more` : marked.map((s) => s.name).join(', ');
    out.push({
      path: ['clusters', ci, 'backends', 'pools', pi, 'shared_zone'],
      cluster: c.name,
      message:
        `cluster ${c.name}, pool ${p.name}: shared_zone is not set and nginx can mark ${names} failed (max_fails is not 0): ` +
        `without a zone in the upstream block each nginx worker keeps its own memory of failed servers, so with several workers ` +
        `(worker_processes auto on a node with several cores) one worker sends to a server again while another still answers 502, ` +
        `and a check through the proxy sees only the worker it reaches; add "zone ${p.name} 64k;" to the upstream block and set shared_zone: true`,
    });
  });
  return out;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/** nginx's stub_status and haproxy's stats page: answered by the proxy itself, never by a backend. */
function isStatusPage(u: URL): boolean {
  return /\/(nginx_status|stub_status|basic_status)\/?$/.test(u.pathname) || u.search === '?stats' || /\/stats\/?$/.test(u.pathname);
}

/**
 * http checks that cannot see what the proxy answers its clients: one that goes past the node's
 * proxy (to a backend, or any address that is not the node, a VIP or loopback) or to a page the
 * proxy answers itself passes while every client gets 502.
 */
function checkWarnings(c: ClusterSpec, ci: number): SpecWarning[] {
  const out: SpecWarning[] = [];
  const own = new Set([...c.nodes.flatMap((n) => n.addresses), ...c.vips.map((v) => v.address)]);
  const servers = new Map(c.backends.pools.flatMap((p) => p.servers.map((s) => [serverAddressKey(s.address), `server ${s.name} of pool ${p.name}`] as const)));
  const advice = 'check through the proxy\'s listener instead, e.g. url: "http://127.0.0.1/" with the site\'s host';
  c.checks.forEach((k, ki) => {
    if (k.params.kind !== 'http' || k.effect === 'none') return;
    let u: URL;
    try {
      u = new URL(k.params.url);
    } catch {
      return;
    }
    const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
    const server = isIP(host) ? servers.get(serverAddressKey(host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`)) : undefined;
    let why: string | undefined;
    if (server !== undefined) why = `goes straight to ${server}, not through the proxy: it passes while the proxy still has the server marked failed and answers clients 502`;
    else if (isIP(host) && !isLoopback(host) && !own.has(host)) why = `goes to ${host}, which is not the node's proxy (not a loopback address, an address of a node or a VIP of cluster ${c.name}): it can pass while the proxy answers clients 502`;
    else if (isStatusPage(u)) why = `asks for the proxy's status page, which the proxy answers itself: it passes while every client gets 502`;
    if (why === undefined) return;
    // Read-only callers see the events: a URL's credentials are not shown.
    out.push({ path: ['clusters', ci, 'checks', ki, 'url'], cluster: c.name, message: `cluster ${c.name}, check ${k.name}: ${urlForDisplay(k.params.url)} ${why}; ${advice}` });
  });
  return out;
}

/** Every warning of a valid spec, in document order per cluster. */
export function specWarnings(spec: Spec): SpecWarning[] {
  return spec.clusters.flatMap((c, ci) => [
    ...(c.service === 'nginx' ? [...failTimeoutWarnings(c, ci), ...zoneWarnings(c, ci)] : []),
    ...checkWarnings(c, ci),
  ]);
}

/** A warning as validation answers it: the field's dotted path, line and column, and its cluster. */
export interface LocatedWarning extends ConfigIssue {
  readonly cluster: string;
}

/** The spec's warnings, each with where its field is written (`where`; line 0 when unknown). */
export function locatedWarnings(spec: Spec, where: Locate = () => ({ line: 0, column: 0 })): LocatedWarning[] {
  return specWarnings(spec).map((w) => ({ path: formatPath(w.path), ...where(w.path), cluster: w.cluster, message: w.message }));
}
