// The agent's forwarding pieces (handover controller, failover forwarder) built to run in a
// BridgeNet node's namespace, as the agent on that node would run them. The pieces themselves run
// in the test process; every command they run goes through `ip netns exec`.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '@lbha/shared';
import { FailoverForwarder } from '../../src/net/failover-forwarder.js';
import { HandoverController, type SavedSysctls } from '../../src/net/handover.js';
import { NftSession } from '../../src/net/nft-session.js';
import { JsonFile } from '../../src/state/json-file.js';
import { runCommand, type CommandRunner } from '../../src/util/run-command.js';
import type { BridgeNet, NodeName } from './bridge-net.js';

const logger = createLogger('test', { level: 'silent' });

/** Runs every command in the node's namespace; `only.ss` stands in for `ss` when given. */
export const runIn =
  (net: BridgeNet, node: NodeName, only?: { ss: string }): CommandRunner =>
  (file, args, options) =>
    runCommand('ip', ['netns', 'exec', net.ns[node], file === 'ss' && only ? only.ss : file, ...args], options);

/** The node's handover controller, its files under `dir`/`node`. */
export function handoverController(net: BridgeNet, dir: string, node: NodeName, run = runIn(net, node)): HandoverController {
  const procSys = join(dir, node, 'sys');
  for (const iface of ['all', 'eth1']) {
    mkdirSync(join(procSys, 'net', 'ipv4', 'conf', iface), { recursive: true });
    // The namespace has these values for real (BridgeNet); the controller reads the files.
    writeFileSync(join(procSys, 'net', 'ipv4', 'conf', iface, 'arp_ignore'), '1\n');
    writeFileSync(join(procSys, 'net', 'ipv4', 'conf', iface, 'arp_announce'), '2\n');
  }
  return new HandoverController({
    nftProgram: 'nft',
    ipProgram: 'ip',
    ssProgram: 'ss',
    run,
    logger,
    workDir: join(dir, node, 'work'),
    sysctls: new JsonFile<SavedSysctls>(join(dir, node, 'sysctls.json')),
    procSysRoot: procSys,
    holdsVip: (t) => spawnSync('ip', ['-n', net.ns[node], '-o', 'addr', 'show', 'dev', t.interface], { encoding: 'utf8' }).stdout.includes(` ${t.vip}/`),
  });
}

/** The node's failover forwarder, with its long-lived `nft -i` in the node's namespace. */
export function failoverForwarder(net: BridgeNet, dir: string, node: NodeName): FailoverForwarder {
  const run = runIn(net, node);
  const session = new NftSession({ nftProgram: 'ip', prefix: ['netns', 'exec', net.ns[node], 'nft'], run, logger });
  return new FailoverForwarder({ nftProgram: 'nft', ipProgram: 'ip', run, logger, workDir: join(dir, node, 'failover'), session });
}
