// A router that is not a node of the cluster, on the client segment: a namespace of the run
// (`lbhalab-<run>-rogue`, removed with the run) on the outer bridge, running a stock keepalived
// that advertises one of the cluster's VRIDs for the VIP's address. What a misconfigured router
// or a forgotten test box does to a VRRP cluster.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '@lbha/test-support';
import type { Lab } from './lab.js';
import { spawnLabProcess, type LabProcess } from './lab-process.js';
import { ip, ipIn, runInNamespace } from './run-command.js';

export interface ForeignRouterOptions {
  readonly vrid: number;
  readonly priority: number;
  /** The VIP it claims, with prefix. */
  readonly vip: string;
  /** Its own address on the client segment. */
  readonly address: string;
  readonly advertIntervalMs?: number;
  readonly vrrpVersion?: 2 | 3;
}

export interface ForeignRouter {
  readonly ns: string;
  readonly address: string;
  readonly process: LabProcess;
  /** Whether it holds the VIP (its keepalived is MASTER). */
  holdsVip(): Promise<boolean>;
  /** Stops its keepalived (it lets the VIP go) and removes its namespace. */
  remove(): Promise<void>;
}

export async function startForeignRouter(lab: Lab, o: ForeignRouterOptions): Promise<ForeignRouter> {
  const ns = `lbhalab-${lab.runId}-rogue`;
  const port = `l${lab.runId}-r1`;
  await ip(['netns', 'add', ns]);
  await ipIn(ns, ['link', 'set', 'lo', 'up']);
  await runInNamespace(ns, 'sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  await ipIn(lab.names.fabricNs, ['link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth1', 'netns', ns]);
  await ipIn(lab.names.fabricNs, ['link', 'set', port, 'master', lab.names.outerBridge, 'up']);
  await ipIn(ns, ['addr', 'add', `${o.address}/${lab.plan.prefix}`, 'dev', 'eth1']);
  await ipIn(ns, ['link', 'set', 'eth1', 'up']);
  const dir = join(lab.runDir, 'rogue');
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'keepalived.conf');
  // A stock configuration: what someone writes from keepalived's documentation.
  writeFileSync(
    conf,
    [
      'global_defs {',
      '  router_id rogue',
      `  vrrp_version ${o.vrrpVersion ?? 3}`,
      '}',
      'vrrp_instance VI_1 {',
      '  state BACKUP',
      '  interface eth1',
      `  virtual_router_id ${o.vrid}`,
      `  priority ${o.priority}`,
      `  advert_int ${(o.advertIntervalMs ?? 1000) / 1000}`,
      '  virtual_ipaddress {',
      `    ${o.vip} dev eth1`,
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  const daemon = spawnLabProcess({
    name: 'rogue-keepalived',
    ns,
    command: '/usr/sbin/keepalived',
    args: ['--dont-fork', '--log-console', '--log-detail', '--no-syslog', '--vrrp', '-f', conf, '-p', join(dir, 'keepalived.pid'), '-r', join(dir, 'vrrp.pid')],
    logFile: lab.logFile('rogue-keepalived'),
  });
  const vipAddress = o.vip.slice(0, o.vip.indexOf('/'));
  const holdsVip = async (): Promise<boolean> => (await runInNamespace(ns, 'ip', ['-br', 'addr', 'show', 'dev', 'eth1'])).stdout.includes(` ${vipAddress}/`);
  await waitFor('the foreign router to start', async () => (daemon.isRunning() ? { done: true, value: undefined } : { done: false, observed: 'not running' }), { timeoutMs: 5000 });
  return {
    ns,
    address: o.address,
    process: daemon,
    holdsVip,
    remove: async () => {
      await daemon.stop('SIGTERM', 3000);
      await ip(['netns', 'del', ns]).catch(() => undefined);
    },
  };
}
