// Everything the agent refuses in a desired state, with the field that is wrong. A refused
// state is NACKed with these messages and changes nothing on the node.
import { isIP } from 'node:net';
import { basePriorityProblem, cidrContains, interfaceProblem, MAX_PENALTY, nameProblem, parseCidr, vipAddressProblem, vipSubnetProblem, type Cidr, type CheckSpec, type DesiredState } from '@lbha/shared';

export interface AgentIdentity {
  readonly node: string;
  readonly cluster: string;
  /** Names of the services in the agent config (nginx, haproxy, keepalived...). */
  readonly services: readonly string[];
  /** The subset that are proxies (what proxyService may name). */
  readonly proxies: readonly string[];
  /** The addresses each interface holds now ("a.b.c.d/nn"); VIPs are judged against their subnets. */
  readonly interfaceAddresses?: () => ReadonlyMap<string, ReadonlySet<string>>;
}

/**
 * A VIP that would break the node: a reserved address, or one that does not fit the subnet of
 * the interface (its own address there, not another VIP's) as the kernel has it now.
 */
function vipProblem(vip: Cidr, iface: string, me: AgentIdentity, vips: ReadonlySet<string>): string | undefined {
  const reserved = vipAddressProblem(vip);
  if (reserved) return reserved;
  for (const text of me.interfaceAddresses?.().get(iface) ?? []) {
    const own = parseCidr(text);
    if (typeof own === 'string' || vips.has(own.address) || !cidrContains(own, vip.address)) continue;
    const problem = vipSubnetProblem(vip, own);
    if (problem) return `${problem} (${iface} has ${text})`;
  }
  return undefined;
}

/** keepalived refuses (or silently truncates) a longer PASS; VRRPv2 carries 8 bytes. */
const MAX_AUTH_PASS = 8;

const AUTH_PASS_RULE = `at most ${MAX_AUTH_PASS} printable characters without spaces, quotes or backslashes`;

function badAuthPass(v: string): boolean {
  return v.length > MAX_AUTH_PASS || !/^[\x21-\x7e]+$/.test(v) || /["\\]/.test(v);
}

export function desiredStateProblems(d: DesiredState, me: AgentIdentity): string[] {
  const p: string[] = [];
  if (d.node !== me.node) p.push(`node: desired state is for node ${JSON.stringify(d.node)}, this agent is ${JSON.stringify(me.node)}`);
  if (d.cluster !== me.cluster) p.push(`cluster: desired state is for cluster ${JSON.stringify(d.cluster)}, this agent is in ${JSON.stringify(me.cluster)}`);
  if (d.proxyService && !me.proxies.includes(d.proxyService)) {
    p.push(`proxyService: ${JSON.stringify(d.proxyService)} is not a proxy configured on this agent (configured: ${me.proxies.join(', ') || 'none'})`);
  }
  const k = d.keepalived;
  if (k.vrrpVersion !== 2 && k.vrrpVersion !== 3) p.push(`keepalived.vrrpVersion: must be 2 or 3, got ${String(k.vrrpVersion)}`);
  if (k.vrrpVersion === 3) {
    if (k.advertIntMs < 10 || k.advertIntMs > 40_950 || k.advertIntMs % 10 !== 0) {
      p.push(`keepalived.advertIntMs: VRRPv3 needs a multiple of 10ms between 10ms and 40950ms, got ${k.advertIntMs}ms`);
    }
    if (k.authPass) p.push('keepalived.authPass: VRRPv3 has no authentication (RFC 5798); use VRRP version 2 for PASS authentication, or drop it');
  }
  if (k.vrrpVersion === 2) {
    if (k.advertIntMs < 1000 || k.advertIntMs > 255_000 || k.advertIntMs % 1000 !== 0) {
      p.push(`keepalived.advertIntMs: VRRPv2 needs whole seconds between 1s and 255s, got ${k.advertIntMs}ms (sub-second adverts need VRRPv3)`);
    }
    if (k.authPass && badAuthPass(k.authPass)) p.push(`keepalived.authPass: ${AUTH_PASS_RULE}`);
  }
  if (k.unicast) {
    if (!isIP(k.unicastSrc)) p.push(`keepalived.unicastSrc: ${JSON.stringify(k.unicastSrc)} is not an IP address`);
    if (k.unicastPeers.length === 0) p.push('keepalived.unicastPeers: unicast needs at least one peer');
    k.unicastPeers.forEach((peer, i) => {
      if (!isIP(peer)) p.push(`keepalived.unicastPeers[${i}]: ${JSON.stringify(peer)} is not an IP address`);
      else if (peer === k.unicastSrc) p.push(`keepalived.unicastPeers[${i}]: ${peer} is this node's own unicastSrc`);
    });
  } else if (k.mcastGroup && !isIP(k.mcastGroup)) {
    p.push(`keepalived.mcastGroup: ${JSON.stringify(k.mcastGroup)} is not an IP address`);
  }

  const names = new Set<string>();
  const vrids = new Map<string, string>();
  const vipAddresses = new Set(d.instances.map((i) => i.vip.split('/')[0] ?? ''));
  d.instances.forEach((inst, i) => {
    const at = `instances[${i}]`;
    if (inst.authPass) {
      if (k.vrrpVersion === 3) p.push(`${at}.authPass: VRRPv3 has no authentication (RFC 5798); use VRRP version 2 for PASS authentication, or drop it`);
      else if (badAuthPass(inst.authPass)) p.push(`${at}.authPass: ${AUTH_PASS_RULE}`);
    }
    const np = nameProblem(inst.name);
    if (np) p.push(`${at}.name: ${np}`);
    else if (names.has(inst.name)) p.push(`${at}.name: duplicate instance ${JSON.stringify(inst.name)}`);
    names.add(inst.name);
    const ip = interfaceProblem(inst.interface);
    if (ip) p.push(`${at}.interface: ${ip}`);
    const cidr = parseCidr(inst.vip);
    if (typeof cidr === 'string') p.push(`${at}.vip: ${cidr}`);
    else {
      const problem = vipProblem(cidr, inst.interface, me, vipAddresses);
      if (problem) p.push(`${at}.vip: ${problem}`);
    }
    if (!Number.isInteger(inst.vrid) || inst.vrid < 1 || inst.vrid > 255) p.push(`${at}.vrid: must be 1..255, got ${inst.vrid}`);
    else if (typeof cidr !== 'string') {
      // VRIDs share one space per interface and address family.
      const key = `${inst.interface}/${cidr.family}/${inst.vrid}`;
      const other = vrids.get(key);
      if (other) p.push(`${at}.vrid: VRID ${inst.vrid} on ${inst.interface} is already used by ${other}`);
      vrids.set(key, inst.name);
    }
    const bp = basePriorityProblem(inst.basePriority);
    if (bp) p.push(`${at}.basePriority: ${bp}`);
    inst.trackInterfaces.forEach((t, j) => {
      const tp = interfaceProblem(t);
      if (tp) p.push(`${at}.trackInterfaces[${j}]: ${tp}`);
    });
  });

  const checkNames = new Set<string>();
  d.checks.forEach((c, i) => {
    const at = `checks[${i}]`;
    const np = nameProblem(c.name);
    if (np) p.push(`${at}.name: ${np}`);
    else if (checkNames.has(c.name)) p.push(`${at}.name: duplicate check ${JSON.stringify(c.name)}`);
    checkNames.add(c.name);
    p.push(...checkProblems(c, me).map((m) => `${at}.${m}`));
  });
  return p;
}

function checkProblems(c: CheckSpec, me: AgentIdentity): string[] {
  const p: string[] = [];
  if (c.fall > 100 || c.rise > 100) p.push('fall/rise: at most 100');
  if (c.effect === 'penalty' && (c.penalty < 1 || c.penalty > MAX_PENALTY)) p.push(`penalty: a penalty check needs 1..${MAX_PENALTY}, got ${c.penalty}`);
  const params = c.params;
  switch (params.kind) {
    case 'process':
    case 'config':
      if (!me.services.includes(params.service)) {
        p.push(`params.service: ${JSON.stringify(params.service)} is not configured on this agent (configured: ${me.services.join(', ')})`);
      }
      break;
    case 'http': {
      let url: URL | undefined;
      try {
        url = new URL(params.url);
      } catch {
        p.push(`params.url: ${JSON.stringify(params.url)} is not a URL`);
      }
      if (url && url.protocol !== 'http:' && url.protocol !== 'https:') p.push(`params.url: only http and https, got ${url.protocol}`);
      if (params.method && !/^(GET|HEAD|POST|OPTIONS)$/i.test(params.method)) p.push(`params.method: one of GET, HEAD, POST, OPTIONS, got ${JSON.stringify(params.method)}`);
      if (params.expectStatus !== 0 && (params.expectStatus < 100 || params.expectStatus > 599)) p.push(`params.expectStatus: must be 100..599, got ${params.expectStatus}`);
      if (/[\r\n]/.test(params.host)) p.push('params.host: must not contain line breaks');
      break;
    }
    case 'tcp':
      if (!params.host) p.push('params.host: missing');
      if (!Number.isInteger(params.port) || params.port < 1 || params.port > 65535) p.push(`params.port: must be 1..65535, got ${params.port}`);
      break;
    case 'interface': {
      const ip = interfaceProblem(params.interface);
      if (ip) p.push(`params.interface: ${ip}`);
      break;
    }
    case 'maintenance_file':
      if (!params.path.startsWith('/') || /[\0\n]/.test(params.path)) p.push(`params.path: must be an absolute path, got ${JSON.stringify(params.path)}`);
      break;
  }
  return p;
}
