// Faults on the VRRP path between the LB nodes, with nftables in a node's namespace (the kernel
// has no netem): drop the adverts it receives from given sources, all of them or a share. The
// table is the lab's own (`lbhalab_vrrp`); removing it restores the path. Only VRRP (IP protocol
// 112) is touched: clients, health checks and the coordinator stream go on as before.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabUsageError } from './errors.js';
import type { Lab } from './lab.js';
import type { LbNode } from './lab-names.js';
import { runInNamespace } from './run-command.js';

const TABLE = 'lbhalab_vrrp';

export interface VrrpDropOptions {
  /** Source addresses whose adverts are dropped (the peers' outer addresses). */
  readonly from: readonly string[];
  /** Share of those adverts dropped, in percent (default 100: the path is cut). */
  readonly percent?: number;
}

/** Drops VRRP adverts `node` receives from `from` (replacing a drop set before). */
export async function dropVrrp(lab: Lab, node: LbNode, o: VrrpDropOptions): Promise<void> {
  const percent = o.percent ?? 100;
  if (!Number.isInteger(percent) || percent < 1 || percent > 100) throw new LabUsageError(`percent must be 1..100, got ${percent}`);
  if (o.from.length === 0 || o.from.some((a) => !/^\d{1,3}(\.\d{1,3}){3}$/.test(a))) throw new LabUsageError(`from must be IPv4 addresses, got ${JSON.stringify(o.from)}`);
  const share = percent === 100 ? '' : `numgen random mod 100 < ${percent} `;
  const ruleset = [
    `table ip ${TABLE} {`,
    '  chain in {',
    '    type filter hook prerouting priority -400; policy accept;',
    `    ip protocol 112 ip saddr { ${o.from.join(', ')} } ${share}counter drop`,
    '  }',
    '}',
    '',
  ].join('\n');
  await clearVrrpDrop(lab, node);
  const file = join(lab.runDir, `${node}-vrrp-drop.nft`);
  writeFileSync(file, ruleset);
  const out = await runInNamespace(lab.names.ns[node], 'nft', ['-f', file]).finally(() => rmSync(file, { force: true }));
  if (out.code !== 0) throw new LabUsageError(`nft in ${node}: ${out.stderr}`);
}

/** Restores the VRRP path of `node` (no-op when nothing is dropped). */
export async function clearVrrpDrop(lab: Lab, node: LbNode): Promise<void> {
  await runInNamespace(lab.names.ns[node], 'nft', ['delete', 'table', 'ip', TABLE]);
}

/** Adverts dropped so far at `node`. */
export async function droppedAdverts(lab: Lab, node: LbNode): Promise<number> {
  const out = await runInNamespace(lab.names.ns[node], 'nft', ['-j', 'list', 'table', 'ip', TABLE]);
  if (out.code !== 0) return 0;
  const m = /"counter":\s*\{\s*"packets":\s*(\d+)/.exec(out.stdout);
  return m ? Number(m[1]) : 0;
}
