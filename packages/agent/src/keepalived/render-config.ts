// Renders keepalived.conf from a desired state. Only structure goes into the file (instances,
// VIPs, peers, base priorities): health and placement change through track files, so a
// failover never rewrites or reloads this file. Input is validated before (desired-state-problems.ts).
import type { DesiredInstance, DesiredState } from '@lbha/shared';
import { isIPv4 } from 'node:net';
import { RenderError } from '../errors.js';
import type { KeepalivedFiles } from './keepalived-files.js';

export const HEALTH_TRACK = 'lbha_health';

export function placementTrack(instance: string): string {
  return `lbha_place_${instance}`;
}

/** keepalived wants seconds; VRRPv3 counts in centiseconds. */
export function advertInt(ms: number): string {
  return String(Math.round(ms / 10) / 100);
}

function quote(s: string): string {
  if (/["\n\\]/.test(s)) throw new RenderError('path', `${JSON.stringify(s)} cannot be quoted for keepalived.conf`);
  return `"${s}"`;
}

export interface RenderOptions {
  readonly routerId: string;
  readonly files: KeepalivedFiles;
}

export function renderKeepalivedConf(desired: DesiredState, opts: RenderOptions): string {
  const k = desired.keepalived;
  const out: string[] = [];
  out.push(
    `# keepalived.conf for node ${desired.node} of cluster ${desired.cluster}, rendered by lbha-agent.`,
    '# Do not edit: the agent rewrites it when instances, VIPs or peers change.',
    '# Health and placement are not here: they are written to the track files below.',
    '',
    'global_defs {',
    `  router_id ${opts.routerId}`,
    `  vrrp_version ${k.vrrpVersion}`,
    `  notify_fifo ${quote(opts.files.notifyFifo)}`,
    // After a reload keepalived closes and reopens the FIFO; this replays every state.
    '  fifo_write_vrrp_states_on_reload',
    // When a split brain heals, the node that gives the VIP up sends one more (lower-priority)
    // advert before it lets go, and the holder answers any lower-priority advert with gratuitous
    // ARPs / NAs: clients that followed the other node come back (docs/design/vrrp-edges.md).
    '  vrrp_higher_prio_send_advert true',
    '  vrrp_garp_lower_prio_repeat 1',
  );
  if (k.realtime) {
    // The fast timing profile: adverts every few tens of ms must leave on time on a busy host.
    out.push('  vrrp_rt_priority 50', '  vrrp_no_swap');
  }
  if (k.mcastGroup && !k.unicast) {
    out.push(`  vrrp_mcast_group${isIPv4(k.mcastGroup) ? 4 : 6} ${k.mcastGroup}`);
  }
  out.push('}', '');
  out.push(
    '# Non-zero: every instance goes to FAULT at once (a failing fault-effect check).',
    `track_file ${HEALTH_TRACK} {`,
    `  file ${quote(opts.files.healthFile)}`,
    '  weight 0',
    '}',
    '',
  );
  for (const inst of desired.instances) {
    out.push(
      `# Added to priority ${inst.basePriority} of ${inst.name}: placement from the coordinator minus local penalties.`,
      `track_file ${placementTrack(inst.name)} {`,
      `  file ${quote(opts.files.placementFile(inst.name))}`,
      '  weight 1',
      '}',
      '',
    );
  }
  for (const inst of desired.instances) out.push(...renderInstance(desired, inst), '');
  return `${out.join('\n').trimEnd()}\n`;
}

function renderInstance(desired: DesiredState, inst: DesiredInstance): string[] {
  const k = desired.keepalived;
  const lines = [
    `vrrp_instance ${inst.name} {`,
    // Every node starts as BACKUP; priorities (base + placement track file) elect the master.
    '  state BACKUP',
    `  interface ${inst.interface}`,
    `  virtual_router_id ${inst.vrid}`,
    `  priority ${inst.basePriority}`,
    `  advert_int ${advertInt(k.advertIntMs)}`,
  ];
  if (k.unicast) {
    lines.push(`  unicast_src_ip ${k.unicastSrc}`, '  unicast_peer {');
    for (const p of k.unicastPeers) lines.push(`    ${p}`);
    lines.push('  }');
  }
  // keepalived's auth_pass is per instance: the instance's own, else the cluster's.
  const pass = inst.authPass ?? k.authPass;
  if (pass && k.vrrpVersion === 2) {
    lines.push('  authentication {', '    auth_type PASS', `    auth_pass ${pass}`, '  }');
  }
  lines.push('  virtual_ipaddress {', `    ${inst.vip} dev ${inst.interface}`, '  }');
  // keepalived tracks the instance's own interface anyway (and warns if it is listed).
  const tracked = [...new Set(inst.trackInterfaces)].filter((i) => i !== inst.interface);
  if (tracked.length > 0) {
    lines.push('  track_interface {');
    for (const i of tracked) lines.push(`    ${i}`);
    lines.push('  }');
  }
  lines.push('  track_file {', `    ${HEALTH_TRACK} weight 0`, `    ${placementTrack(inst.name)} weight 1`, '  }', '}');
  return lines;
}
