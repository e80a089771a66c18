// Builds and removes a run's namespaces, bridges and veth pairs.
// The bridges live in the run's own "fabric" namespace: nothing is created in the host namespace,
// no bridge touches a host interface, and no namespace has a route out of the lab's subnets.
import type { LabNames, NodeRole } from './lab-names.js';
import { NODE_ROLES } from './lab-names.js';
import { ip, ipIn, runCommand, runInNamespace } from './run-command.js';
import type { TopologyPlan } from './topology.js';

interface Attachment {
  readonly role: NodeRole;
  readonly iface: 'eth1' | 'eth2';
  readonly bridge: 'outer' | 'inner';
  readonly address: string;
}

function attachments(plan: TopologyPlan): Attachment[] {
  return [
    { role: 'client', iface: 'eth1', bridge: 'outer', address: plan.client },
    { role: 'lb1', iface: 'eth1', bridge: 'outer', address: plan.lbs.lb1.outer },
    { role: 'lb1', iface: 'eth2', bridge: 'inner', address: plan.lbs.lb1.inner },
    { role: 'lb2', iface: 'eth1', bridge: 'outer', address: plan.lbs.lb2.outer },
    { role: 'lb2', iface: 'eth2', bridge: 'inner', address: plan.lbs.lb2.inner },
    { role: 'web1', iface: 'eth1', bridge: 'inner', address: plan.webs.web1.address },
    { role: 'web2', iface: 'eth1', bridge: 'inner', address: plan.webs.web2.address },
  ];
}

/** Lists the names of all network namespaces on the host. */
export async function listNamespaces(): Promise<string[]> {
  const out = await runCommand('ip', ['-j', 'netns', 'list']);
  if (out.code !== 0 || out.stdout.trim() === '') return [];
  const parsed = JSON.parse(out.stdout) as { name: string }[];
  return parsed.map((entry) => entry.name);
}

export async function createNetwork(names: LabNames, plan: TopologyPlan): Promise<void> {
  const all = [names.fabricNs, ...NODE_ROLES.map((role) => names.ns[role])];
  for (const ns of all) {
    await ip(['netns', 'add', ns]);
    await ipIn(ns, ['link', 'set', 'lo', 'up']);
    // IPv6 is not part of the seeds; turning it off keeps DAD and router solicitations out of captures.
    await runInNamespace(ns, 'sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  }
  const bridgeName = { outer: names.outerBridge, inner: names.innerBridge };
  for (const bridge of [names.outerBridge, names.innerBridge]) {
    // No STP and no forward delay: ports forward at once. No multicast snooping: VRRP adverts flood.
    await ipIn(names.fabricNs, [
      'link', 'add', 'name', bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0',
    ]);
    await ipIn(names.fabricNs, ['link', 'set', bridge, 'up']);
  }
  for (const a of attachments(plan)) {
    const port = names.fabricPort(a.role, a.iface);
    const ns = names.ns[a.role];
    // Created in the fabric namespace with the peer placed directly into the node's namespace
    // under its final name, so no interface ever appears in the host namespace.
    await ipIn(names.fabricNs, ['link', 'add', port, 'type', 'veth', 'peer', 'name', a.iface, 'netns', ns]);
    await ipIn(names.fabricNs, ['link', 'set', port, 'master', bridgeName[a.bridge], 'up']);
    await ipIn(ns, ['addr', 'add', `${a.address}/${plan.prefix}`, 'dev', a.iface]);
    await ipIn(ns, ['link', 'set', a.iface, 'up']);
  }
}

/** Pids of every process living in a namespace (empty when the namespace is gone). */
export async function namespacePids(ns: string): Promise<number[]> {
  const out = await runCommand('ip', ['netns', 'pids', ns]);
  if (out.code !== 0) return [];
  return out.stdout
    .split('\n')
    .map((line) => Number.parseInt(line.trim(), 10))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/**
 * Ends every process in the namespaces: SIGTERM first (keepalived removes its VIPs, nginx exits),
 * then SIGKILL for whatever is still there after the grace period.
 */
export async function killNamespaceProcesses(namespaces: readonly string[], graceMs = 1500): Promise<void> {
  const pidsOf = async (): Promise<number[]> => (await Promise.all(namespaces.map(namespacePids))).flat();
  let pids = await pidsOf();
  if (pids.length === 0) return;
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    pids = await pidsOf();
    if (pids.length === 0) return;
  }
  for (const pid of pids) signal(pid, 'SIGKILL');
  const killDeadline = Date.now() + 3000;
  while (Date.now() < killDeadline && (await pidsOf()).length > 0) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Deletes namespaces; deleting the fabric namespace removes the bridges and every veth pair. */
export async function deleteNamespaces(namespaces: readonly string[]): Promise<void> {
  for (const ns of namespaces) {
    await runCommand('ip', ['netns', 'del', ns]);
  }
}
