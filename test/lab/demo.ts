// `npm run demo`: the seed's active/active nginx cluster (topology a) under lbha, in network
// namespaces on this machine. Shows the cluster, traffic through both VIPs, an nginx that dies and
// cannot restart on the first VIP's holder, the VIP moving and the outage the client saw, the repair
// and the VIP going home, then a planned drain and undrain of that node with a client on a kept-alive
// connection (the connection handover). Keeps the lab up until Ctrl-C (or exits with --once).
import { parseArgs } from 'node:util';
import { sleep, waitFor } from '@lbha/test-support';
import type { AgentControl } from './agent-control.js';
import { labUnavailableReason, startLab, type Lab, type LabControl } from './lab.js';
import { LB_NODES, type LbNode } from './lab-names.js';
import { describeSummary, summarizeProbe, type ProbeRecord } from './probe-records.js';
import { webNodeOfPage, type VipPlan } from './topology.js';

const tty = process.stdout.isTTY === true;
const paint = (code: string) => (text: string) => (tty ? `\x1b[${code}m${text}\x1b[0m` : text);
const bold = paint('1');
const dim = paint('2');
const green = paint('32');
const red = paint('31');
const yellow = paint('33');
const cyan = paint('36');

const started = Date.now();
const clock = (): string => dim(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s]`);
const say = (text: string): void => console.log(`${clock()} ${text}`);
const section = (title: string): void => console.log(`\n${bold(cyan(`== ${title} `.padEnd(78, '=')))}`);

async function showCluster(lab: Lab): Promise<void> {
  const agents = lab.agents;
  const holders = await lab.holders();
  const onInterfaces = lab.plan.vips.map((v) => `${v.address} on ${(holders[v.name] ?? []).join(' and ') || 'no node'}`).join(', ');
  if (agents === undefined) {
    console.log(`    interfaces (ip -j addr in the LB namespaces): ${onInterfaces}`);
    return;
  }
  try {
    // The operator's view: the lbha CLI, as the lab's operator (mutual TLS).
    for (const command of ['status', 'vips']) {
      const out = await agents.cli([command]);
      console.log(`    ${dim(`$ lbha ${command}`)}`);
      const text = out.code === 0 ? out.stdout.trimEnd() : red(out.stderr.trim().split('\n')[0] ?? `lbha ${command} failed`);
      for (const line of text.split('\n')) console.log(`    ${line}`);
      console.log();
    }
    console.log(`    ${dim('seen by the lab on the interfaces (ip -j addr):')} ${onInterfaces}`);
    for (const node of await agents.api.listNodes()) {
      for (const check of node.state?.checks ?? []) {
        // CheckResultKind: 1 = healthy, 2 = unhealthy, 3 = unknown.
        if (check.result !== undefined && check.result.kind !== 1) {
          console.log(`    ${red(`${node.name}: check ${check.name} failing`)}: ${check.result.reason.trim().replace(/\n/g, '\n      ')}`);
        }
      }
    }
  } catch (error) {
    say(red(`coordinator unreachable: ${(error as Error).message}`));
  }
}

async function showRequests(lab: Lab, vip: VipPlan, count: number): Promise<void> {
  const records = await lab.request(vip.name, count, { intervalMs: 50 });
  for (const r of records) {
    if (r.ok) {
      say(`GET http://${vip.address}/  ${green(String(r.status))}  via ${bold(r.lb ?? '?')} -> ${webNodeOfPage(lab.plan, r.page ?? '') ?? '?'}: "${r.page}"  ${dim(`${r.ms.toFixed(1)} ms`)}`);
    } else {
      say(`GET http://${vip.address}/  ${red(r.error ?? 'failed')}  ${dim(`${r.ms.toFixed(1)} ms`)}`);
    }
  }
}

function describeOutage(records: readonly ProbeRecord[], fromMs: number, event: string): void {
  const summary = summarizeProbe(records, { fromMs });
  say(`client probe (one request every 10 ms, each on a new connection): ${describeSummary(summary)}`);
  for (const w of summary.windows) {
    say(`  no successful response for ${bold(`${w.durationMs.toFixed(0)} ms`)} (${w.failedRequests} failed requests), starting ${(w.fromMs - fromMs).toFixed(0)} ms after the ${event}`);
  }
  const byLb = Object.entries(summary.byLb).map(([lb, n]) => `${lb}: ${n}`).join(', ');
  say(`  answered by ${byLb || 'nobody'}`);
}

function other(node: LbNode): LbNode {
  return LB_NODES.find((n) => n !== node) as LbNode;
}

async function round(lab: Lab): Promise<void> {
  const vip = lab.plan.vips[0] as VipPlan;
  const holder = (await lab.holdersOf(vip.name))[0] ?? vip.home;
  const peer = other(holder);

  section(`nginx dies on ${holder}, the holder of ${vip.address}, and cannot restart`);
  console.log(`    The seed's answer: chk_nginx.sh notices within 5 s, tries to start nginx, waits 2 s, stops
    keepalived, and the peer takes over after its advert timeout (advert_int 3). lbha's agent sees
    the exit at once, finds the config invalid and puts the node's instances in FAULT.`);
  const probe = await lab.startProbe(vip.name, { maxDurationMs: 120_000 });
  await sleep(500);
  say(`breaking ${holder}'s nginx.conf, then SIGKILL to nginx master and workers`);
  const faultAt = Date.now();
  const pids = await lab.killProxy(holder, { breakConfig: true });
  say(`killed nginx pids ${pids.join(' ')}`);
  await lab.waitForHolder(vip.name, peer, { timeoutMs: 30_000 });
  say(`${yellow(vip.address)} is now on ${bold(peer)} (${Date.now() - faultAt} ms after the kill, seen with ip addr)`);
  await waitFor('the client to be served by the peer', async () => {
    const n = (await probe.records()).filter((r) => r.ok && r.t > faultAt && r.lb === peer).length;
    return n >= 50 ? { done: true, value: undefined } : { done: false, observed: `${n} answers` };
  }, { timeoutMs: 30_000 });
  describeOutage(await probe.stop(), faultAt, 'kill');
  if (lab.agents !== undefined) await lab.agents.waitForReportedHolder(vip.name, peer, { timeoutMs: 10_000 }).catch(() => undefined);
  console.log();
  await showCluster(lab);

  section(`repair: ${holder}'s nginx.conf is fixed`);
  const back = await lab.startProbe(vip.name, { maxDurationMs: 120_000 });
  const fixedAt = Date.now();
  lab.restoreProxyConfig(holder);
  if (lab.control !== 'agent') {
    // Without the agent, a person does this: start nginx, and keepalived if a script stopped it.
    await lab.startProxy(holder);
    await lab.restartKeepalived(holder);
  }
  say(`config restored${lab.control === 'agent' ? '; the agent starts nginx again' : ''}`);
  await lab.waitForHolder(vip.name, vip.home, { timeoutMs: 60_000 });
  say(`${yellow(vip.address)} is home on ${bold(vip.home)} again (${Date.now() - fixedAt} ms after the fix)`);
  await waitFor('the client to be served by the home node', async () => {
    const n = (await back.records()).filter((r) => r.ok && r.t > fixedAt && r.lb === vip.home).length;
    return n >= 50 ? { done: true, value: undefined } : { done: false, observed: `${n} answers` };
  }, { timeoutMs: 30_000 });
  describeOutage(await back.stop(), fixedAt, 'fix');
  if (lab.agents !== undefined) await lab.agents.waitForReportedHolder(vip.name, vip.home, { timeoutMs: 10_000 }).catch(() => undefined);
  console.log();
  await showCluster(lab);
}

/** Runs an lbha CLI command of the lab and shows it; returns its output. */
async function lbha(agents: AgentControl, args: string[]): Promise<string> {
  console.log(dim(`    $ lbha ${args.join(' ')}`));
  const out = await agents.cli(args);
  if (out.code !== 0) throw new Error(`lbha ${args.join(' ')}: ${out.stderr.trim() || `exit ${out.code}`}`);
  return out.stdout;
}

/** A drain and an undrain of the first VIP's home, with one client that keeps its connection. */
async function planned(lab: Lab, agents: AgentControl): Promise<void> {
  const vip = lab.plan.vips[0] as VipPlan;
  const node = vip.home;
  const peer = other(node);
  section(`planned: lbha drain ${node}, with a client on a kept-alive connection`);
  console.log(`    VRRP moves a VIP by moving its MAC address: with plain keepalived the connections the old
    holder has open are reset by the new one. lbha hands them over: the new holder forwards their
    packets to the old one, which keeps answering them until they end.`);
  const kept = await lab.startProbe(vip.name, { intervalMs: 20, timeoutMs: 3000, keepAlive: true, maxDurationMs: 120_000 });
  const fresh = await lab.startProbe(vip.name, { maxDurationMs: 120_000 });
  await sleep(500);
  const started = JSON.parse(await lbha(agents, ['drain', node, '--timeout', '30s', '--reason', 'demo', '--json'])) as { operation: { id: string } };
  const drainAt = Date.now();
  await lab.waitForHolder(vip.name, peer, { timeoutMs: 30_000 });
  const movedAt = Date.now();
  say(`${yellow(vip.address)} is now on ${bold(peer)} (${movedAt - drainAt} ms after the drain started)`);
  await sleep(2000);
  for (const line of (await lbha(agents, ['vips'])).trimEnd().split('\n')) console.log(`    ${line}`);
  const keptRecords = await kept.stop();
  const after = keptRecords.filter((r) => r.t > movedAt);
  const keptFailed = keptRecords.filter((r) => !r.ok).length;
  const answeredBy = [...new Set(after.map((r) => r.lb ?? '?'))].join(', ');
  say(`kept-alive connection: ${keptRecords.length} requests, ${keptFailed === 0 ? green('0 failed') : red(`${keptFailed} failed`)}; after the move ${after.length} were answered by ${bold(answeredBy || 'nobody')}`);
  const op = await waitFor('the drain to end', async () => {
    const o = (JSON.parse(await lbha(agents, ['operations', started.operation.id, '--json'])) as { operation: { state: string; message: string } }).operation;
    return o.state === 'running' || o.state === 'pending' ? { done: false, observed: o.message } : { done: true, value: o };
  }, { timeoutMs: 60_000, intervalMs: 500 });
  say(`drain ${op.state}: ${op.message} (the client let go of its connection)`);
  await lbha(agents, ['undrain', node, '--wait']);
  await lab.waitForHolder(vip.name, node, { timeoutMs: 30_000 });
  say(`${yellow(vip.address)} is home on ${bold(node)} again`);
  await sleep(500);
  describeOutage(await fresh.stop(), drainAt, 'drain');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      once: { type: 'boolean', default: false },
      control: { type: 'string', default: 'agent' },
      keep: { type: 'boolean', default: false },
    },
  });
  const reason = labUnavailableReason();
  if (reason !== undefined) {
    console.error(`demo: ${reason}`);
    return 1;
  }
  section('lbha demo: two nginx load balancers, two VIPs, active/active (seed 1)');
  console.log(`    client 192.168.20.1 -> VIPs 192.168.20.28 (home lb1), 192.168.20.29 (home lb2)
    lb1 192.168.20.19 | 192.168.50.19    lb2 192.168.20.20 | 192.168.50.20
    web1 192.168.50.22 "node1.xuzhichao.com page"   web2 192.168.50.23 "node2.xuzhichao.com page"
    All of it in network namespaces on this machine; nothing leaves it.`);
  let lab: Lab | undefined;
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    section('bringing up the lab');
    lab = await startLab({
      topology: 'a',
      control: values.control as LabControl,
      keepRunDir: values.keep,
      log: (line) => say(line),
    });
    const agents: AgentControl | undefined = lab.agents;
    if (agents !== undefined) say(`coordinator on ${agents.address} (agents use ${agents.socketPath})`);

    section('the cluster');
    await showCluster(lab);

    section('requests through both VIPs');
    for (const vip of lab.plan.vips) await showRequests(lab, vip, 4);

    if (!interrupted) await round(lab);
    if (!interrupted && agents !== undefined) await planned(lab, agents);

    if (!values.once && !interrupted) {
      section('the lab stays up: Ctrl-C tears it down');
      console.log(`    try: ip netns exec ${lab.names.ns.client} curl -s -H host:${lab.plan.host} http://${lab.plan.vips[0]?.address}/`);
      if (agents !== undefined) {
        const env = Object.entries(agents.cliEnv()).map(([k, v]) => `${k}=${v}`).join(' \\\n           ');
        console.log(`         ${env} \\\n           node packages/cli/dist/src/bin/lbha.js status`);
      }
      console.log(`    run dir: ${lab.runDir}`);
      while (!interrupted) await sleep(200);
    }
  } finally {
    if (lab !== undefined) {
      section('tearing down');
      await lab.down();
      say('done: namespaces, processes and the run dir are gone');
    }
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(red(`demo failed: ${error instanceof Error ? error.message : String(error)}`));
    process.exit(1);
  },
);
