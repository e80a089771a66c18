// Human-readable differences between two specs, for dry runs and `lbha spec diff`.
// Lines start with "+" (added), "-" (removed) or "~" (changed) and use the YAML field names.
import { urlForDisplay, type CheckSpec } from '@lbha/shared';
import type { BackendsSpec, ClusterPolicy, ClusterSpec, NodeSpec, PoolSpec, Spec, VipSpec } from './cluster-spec.js';

/**
 * A value the diff must never print (a VRRP password, a URL's credentials): shown as `label`,
 * compared by `value`, so a rotation shows up as a change without showing either side.
 */
class Secret {
  constructor(
    readonly label: string,
    readonly value: string,
  ) {}
}

type Plain = string | number | boolean | null | Secret | readonly Plain[] | { readonly [k: string]: Plain };

function fmt(v: Plain): string {
  if (v === null) return 'none';
  if (v instanceof Secret) return v.label;
  if (Array.isArray(v)) return `[${v.map((x) => fmt(x as Plain)).join(', ')}]`;
  if (typeof v === 'object') return JSON.stringify(v, (_k, x: unknown) => (x instanceof Secret ? x.label : x));
  if (typeof v === 'string') return v === '' ? '""' : v;
  return String(v);
}

function ms(n: number): string {
  return n % 1000 === 0 ? `${n / 1000}s` : `${n}ms`;
}

function policyView(p: ClusterPolicy): Record<string, Plain> {
  return {
    failback: p.failback.kind === 'hold_down' ? `hold_down ${ms(p.failback.holdDownMs)}` : p.failback.kind,
    timing: p.timing,
    advert_interval: ms(p.advertIntervalMs),
    vrrp_version: p.vrrpVersion,
    transport: p.transport,
    mcast_group: p.mcastGroup,
    auth_pass: p.authPass === '' ? 'off' : new Secret('set', p.authPass),
    base_priority: p.basePriority,
    handover: ms(p.handoverMs),
    foreign_routers: p.foreignRouters,
  };
}

function nodeView(n: NodeSpec): Record<string, Plain> {
  const view: Record<string, Plain> = {};
  for (const i of n.interfaces) view[`interface ${i.name}`] = i.address;
  view['addresses'] = [...n.addresses];
  return view;
}

function vipView(v: VipSpec): Record<string, Plain> {
  return {
    address: v.cidr,
    interface: v.interface,
    vrid: v.vrid,
    home: v.home,
    group: v.group === '' ? null : v.group,
    track_interfaces: [...v.trackInterfaces],
    // Whose password, never the password itself.
    auth_pass: v.authPass === null ? "the cluster's" : v.authPass === '' ? 'off' : new Secret('own', v.authPass),
    readiness: v.readiness === null ? 'off' : `${v.readiness.kind} ${v.readiness.connect}:${v.readiness.port}${v.readiness.kind === 'http' ? ` ${v.readiness.path} (Host ${v.readiness.host})` : ''} every ${v.readiness.intervalMs}ms, timeout ${v.readiness.timeoutMs}ms, fall ${v.readiness.fall}, rise ${v.readiness.rise}`,
  };
}

/** A URL with its password (and user) replaced, for display; compared by the whole URL. */
function urlView(url: string): Plain {
  const shown = urlForDisplay(url);
  return shown === url ? url : new Secret(`${shown} (credentials not shown)`, url);
}

function checkView(c: CheckSpec): Record<string, Plain> {
  const { kind, ...params } = c.params;
  const shown = params as Record<string, Plain>;
  return {
    kind,
    ...shown,
    ...('url' in params ? { url: urlView(params.url) } : {}),
    interval: ms(c.intervalMs),
    timeout: ms(c.timeoutMs),
    fall: c.fall,
    rise: c.rise,
    effect: c.effect,
    penalty: c.penalty,
  };
}

function backendsView(b: BackendsSpec): Record<string, Plain> {
  return { min_healthy: b.minHealthy, report_interval: ms(b.reportIntervalMs), 'drift.ignore': [...b.driftIgnore], 'drift.files': [...b.driftFiles] };
}

function poolView(p: PoolSpec): Record<string, Plain> {
  return { min_healthy: p.minHealthy, shared_zone: p.sharedZone, servers: p.servers.map((s) => ({ ...s })) };
}

function summary(kind: string, view: Record<string, Plain>): string {
  switch (kind) {
    case 'vip':
      return `${fmt(view['address'] as Plain)} on ${fmt(view['interface'] as Plain)}, VRID ${fmt(view['vrid'] as Plain)}${view['home'] ? `, home ${fmt(view['home'] as Plain)}` : ''}`;
    case 'check':
      return `${fmt(view['kind'] as Plain)}, effect ${fmt(view['effect'] as Plain)}`;
    case 'node':
      return Object.entries(view)
        .filter(([k, v]) => k.startsWith('interface ') && v !== null)
        .map(([k, v]) => `${k.slice('interface '.length)} ${fmt(v)}`)
        .join(', ');
    default:
      return '';
  }
}

/** Secrets compare by value; the key keeps `{}` (JSON of a Secret) from hiding a change. */
const canonical = (_k: string, v: unknown): unknown => (v instanceof Secret ? `secret:${v.value}` : v);

function equal(a: Plain, b: Plain): boolean {
  return JSON.stringify(a, canonical) === JSON.stringify(b, canonical);
}

function diffFields(prefix: string, a: Record<string, Plain>, b: Record<string, Plain>, out: string[]): void {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  for (const k of keys) {
    const av = a[k] ?? null;
    const bv = b[k] ?? null;
    if (equal(av, bv)) continue;
    // Same label on both sides: only the secret changed. Say so, show neither.
    if (av instanceof Secret && bv instanceof Secret && av.label === bv.label) out.push(`~ ${prefix}${k}: changed (${av.label}; value not shown)`);
    else out.push(`~ ${prefix}${k}: ${fmt(av)} -> ${fmt(bv)}`);
  }
}

function diffNamed<T extends { readonly name: string }>(
  prefix: string,
  kind: string,
  a: readonly T[],
  b: readonly T[],
  view: (t: T) => Record<string, Plain>,
  out: string[],
): void {
  const before = new Map(a.map((x) => [x.name, x]));
  const after = new Map(b.map((x) => [x.name, x]));
  for (const x of a) if (!after.has(x.name)) out.push(`- ${prefix}${kind} ${x.name}`);
  for (const x of b) {
    const old = before.get(x.name);
    if (!old) {
      const s = summary(kind, view(x));
      out.push(`+ ${prefix}${kind} ${x.name}${s ? ` (${s})` : ''}`);
    } else diffFields(`${prefix}${kind} ${x.name}: `, view(old), view(x), out);
  }
}

function diffCluster(a: ClusterSpec, b: ClusterSpec, out: string[]): void {
  const p = `cluster ${b.name}: `;
  diffFields(p, { service: a.service, track_interfaces: [...a.trackInterfaces] }, { service: b.service, track_interfaces: [...b.trackInterfaces] }, out);
  diffFields(`${p}policy.`, policyView(a.policy), policyView(b.policy), out);
  diffNamed(p, 'node', a.nodes, b.nodes, nodeView, out);
  diffNamed(p, 'vip', a.vips, b.vips, vipView, out);
  diffNamed(p, 'check', a.checks, b.checks, checkView, out);
  diffFields(`${p}backends.`, backendsView(a.backends), backendsView(b.backends), out);
  diffNamed(`${p}backends `, 'pool', a.backends.pools, b.backends.pools, poolView, out);
}

/** What changes when `next` replaces `prev` (prev undefined: nothing applied yet). Empty when equal. */
export function diffSpecs(prev: Spec | undefined, next: Spec): string[] {
  const out: string[] = [];
  const before = new Map((prev?.clusters ?? []).map((c) => [c.name, c]));
  const after = new Set(next.clusters.map((c) => c.name));
  for (const c of prev?.clusters ?? []) {
    if (!after.has(c.name)) out.push(`- cluster ${c.name} (${c.nodes.length} nodes, ${c.vips.length} VIPs)`);
  }
  for (const c of next.clusters) {
    const old = before.get(c.name);
    if (!old) {
      out.push(`+ cluster ${c.name} (service ${c.service}, ${c.nodes.length} nodes, ${c.vips.length} VIPs, ${c.checks.length} checks)`);
      for (const n of c.nodes) out.push(`+ cluster ${c.name}: node ${n.name} (${summary('node', nodeView(n))})`);
      for (const v of c.vips) out.push(`+ cluster ${c.name}: vip ${v.name} (${summary('vip', vipView(v))})`);
    } else diffCluster(old, c, out);
  }
  return out;
}
