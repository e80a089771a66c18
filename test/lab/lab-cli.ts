// Command line for the lab:
//   node test/dist/lab/lab-cli.js up [--topology a|b] [--control agent|keepalived|seed] [--keep]
//       builds a lab, prints how to reach it, and keeps it up until Ctrl-C
//   node test/dist/lab/lab-cli.js cleanup [--all]
//       removes leftovers of crashed runs (--all: every lab run on the host, live ones too)
//   node test/dist/lab/lab-cli.js list
import { parseArgs } from 'node:util';
import { cleanupStaleRuns } from '../systemd/systemd-cluster.js';
import { cleanupRuns } from './cleanup.js';
import { runIdOfNamespace } from './lab-names.js';
import { labUnavailableReason, startLab, type LabControl } from './lab.js';
import { listNamespaces } from './network.js';
import { isOwnerAlive, listRegisteredRuns } from './run-registry.js';
import type { TopologyName } from './topology.js';

const USAGE = `usage: lab-cli up [--topology a|b] [--control agent|keepalived|seed] [--keep]
       lab-cli cleanup [--all]
       lab-cli list`;

async function up(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      topology: { type: 'string', default: 'a' },
      control: { type: 'string', default: 'agent' },
      keep: { type: 'boolean', default: false },
    },
  });
  const lab = await startLab({
    topology: values.topology as TopologyName,
    control: values.control as LabControl,
    keepRunDir: values.keep,
    log: (line) => console.log(line),
  });
  console.log(`\nlab ${lab.runId} is up. Namespaces:`);
  for (const [role, ns] of Object.entries(lab.names.ns)) console.log(`  ${role.padEnd(6)} ${ns}`);
  const vip = lab.plan.vips[0];
  if (vip !== undefined) {
    console.log(`\nTry: ip netns exec ${lab.names.ns.client} curl -s -H host:${lab.plan.host} http://${vip.address}/`);
  }
  console.log('Ctrl-C tears it down.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  console.log('\ntearing down ...');
  await lab.down();
}

async function list(): Promise<void> {
  const runs = listRegisteredRuns();
  const namespaces = await listNamespaces();
  for (const run of runs) {
    const count = namespaces.filter((ns) => runIdOfNamespace(ns) === run.runId).length;
    console.log(`${run.runId}  ${isOwnerAlive(run) ? 'live   ' : 'crashed'}  owner ${run.ownerPid}  ${count} namespaces  ${run.runDir}`);
  }
  const orphans = new Set(namespaces.map(runIdOfNamespace).filter((id) => id !== undefined && !runs.some((r) => r.runId === id)));
  for (const id of orphans) console.log(`${id}  orphan   namespaces without a registered run`);
  if (runs.length === 0 && orphans.size === 0) console.log('no lab runs');
}

async function main(): Promise<number> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === undefined || command === '--help' || command === '-h') {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  const reason = labUnavailableReason();
  if (reason !== undefined) {
    console.error(`lab: ${reason}`);
    return 1;
  }
  switch (command) {
    case 'up':
      await up(rest);
      return 0;
    case 'cleanup': {
      const { values } = parseArgs({ args: rest, options: { all: { type: 'boolean', default: false } } });
      let said = false;
      const log = (line: string): void => {
        said = true;
        console.log(line);
      };
      // The containers of crashed systemd-tier runs first (their overlay mounts, run dirs and
      // cgroups; they run in scratch namespaces), then lab runs and scratch namespaces.
      await cleanupStaleRuns(log);
      const removed = await cleanupRuns({ all: values.all, log });
      if (!said) console.log('nothing to clean up');
      else if (removed.length > 0) console.log(`removed ${removed.length} run(s)`);
      return 0;
    }
    case 'list':
      await list();
      return 0;
    default:
      console.error(USAGE);
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`lab: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
