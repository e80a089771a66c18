// npm run bench:soak — how often a timing profile fails over for nothing. The seed-1 lab runs
// with nothing broken for --minutes (10) per profile while both LB nodes drop 0.1 % of the
// packets they receive (nftables `numgen random mod 1000 == 0 drop`, the kernel has no netem)
// and stress-ng keeps the CPU busy on both nodes; every VRRP transition is counted (from the
// agents' logs: vrrp.transition) and so is every probe request that failed.
//
// Options: --minutes N (LBHA_SOAK_MINUTES, 10), --profiles default,fast (LBHA_SOAK_PROFILES),
// --cpu-workers N (LBHA_SOAK_CPU, 2: stress-ng workers per node), --out FILE.
import { readFileSync, writeFileSync } from 'node:fs';
import { sleep } from '@lbha/test-support';
import { LB_NODES, labUnavailableReason, startLab, summarizeProbe, type Lab, type LabProcess } from '../lab/index.js';
import { intOption, jsonLine, stringOption, table } from './bench-stats.js';

const argv = process.argv.slice(2);
const MINUTES = intOption(argv, '--minutes', 'LBHA_SOAK_MINUTES', 10);
const CPU = intOption(argv, '--cpu-workers', 'LBHA_SOAK_CPU', 2);
const PROFILES = stringOption(argv, '--profiles', 'LBHA_SOAK_PROFILES', 'default,fast')
  .split(',')
  .map((s) => s.trim())
  .filter((s): s is 'default' | 'fast' => s === 'default' || s === 'fast');
const OUT = stringOption(argv, '--out', 'LBHA_SOAK_OUT', '');

const log = (line: string): void => {
  process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
};

let current: Lab | undefined;

interface SoakResult {
  readonly profile: string;
  readonly minutes: number;
  readonly transitions: number;
  readonly requests: number;
  readonly failed: number;
  readonly loadavg: string;
}

/** vrrp.transition lines in a node's agent log written at or after `sinceMs`. */
function transitions(lab: Lab, node: string, sinceMs: number): number {
  let text = '';
  try {
    text = readFileSync(lab.logFile(`${node}-agent`), 'utf8');
  } catch {
    return 0;
  }
  return text
    .split('\n')
    .filter((l) => l.includes('"event":"vrrp.transition"'))
    .filter((l) => Date.parse((JSON.parse(l) as { time: string }).time) >= sinceMs).length;
}

async function soak(profile: 'default' | 'fast'): Promise<SoakResult> {
  log(`soak: ${profile} profile, ${MINUTES} min, 0.1 % loss on both LB nodes, ${CPU} stress-ng CPU workers per node`);
  const lab = await startLab({ topology: 'a', control: 'agent', log, settleTimeoutMs: 60_000, timing: profile });
  current = lab;
  const stress: LabProcess[] = [];
  try {
    for (const node of LB_NODES) {
      await lab.exec(node, 'nft', ['add table netdev lbha_soak']);
      await lab.exec(node, 'nft', ['add chain netdev lbha_soak in { type filter hook ingress device "eth1" priority -500; policy accept; }']);
      await lab.exec(node, 'nft', ['add rule netdev lbha_soak in numgen random mod 1000 == 0 counter drop']);
      stress.push(lab.spawn(`${node}-stress`, node, 'stress-ng', ['--cpu', String(CPU), '--timeout', `${MINUTES * 60 + 30}s`, '--quiet']));
    }
    const probe = await lab.startProbe('vip1', { intervalMs: 100, maxDurationMs: MINUTES * 60_000 + 60_000 });
    const from = Date.now();
    await sleep(MINUTES * 60_000);
    const records = await probe.stop();
    const count = LB_NODES.reduce((n, node) => n + transitions(lab, node, from), 0);
    const s = summarizeProbe(records);
    const dropped = await lab.exec('lb1', 'nft', ['list', 'chain', 'netdev', 'lbha_soak', 'in']).catch(() => '');
    log(`soak ${profile}: ${count} VRRP transitions, ${s.failed} of ${s.requests} probe requests failed; lb1 ${/packets (\d+)/.exec(dropped)?.[1] ?? '?'} packets dropped`);
    return { profile, minutes: MINUTES, transitions: count, requests: s.requests, failed: s.failed, loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') };
  } finally {
    for (const p of stress) await p.stop('SIGTERM', 2000);
    current = undefined;
    await lab.down();
  }
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`${sig}: tearing the lab down`);
    void (current?.down() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

async function main(): Promise<void> {
  const reason = labUnavailableReason();
  if (reason !== undefined) {
    process.stderr.write(`bench:soak: ${reason}\n`);
    process.exit(2);
  }
  const results: SoakResult[] = [];
  for (const p of PROFILES) results.push(await soak(p));
  const lines = results.map((r) => jsonLine({ scenario: 'timing-soak', ...r, loss_percent: 0.1, cpu_workers_per_node: CPU, spurious_per_hour: Math.round((r.transitions / r.minutes) * 60 * 10) / 10 }));
  process.stdout.write(
    `${table(
      ['profile', 'minutes', 'VRRP transitions', 'probe requests', 'failed', 'load avg at end'],
      results.map((r) => [r.profile, r.minutes, r.transitions, r.requests, r.failed, r.loadavg]),
    )}\n\n${lines.join('\n')}\n`,
  );
  if (OUT !== '') writeFileSync(OUT, `${lines.join('\n')}\n`);
}

main().catch(async (error: unknown) => {
  process.stderr.write(`bench:soak failed: ${(error as Error).stack ?? String(error)}\n`);
  await current?.down().catch(() => undefined);
  process.exit(1);
});
