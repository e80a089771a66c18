// The faults of `npm run bench:failover`, each with its repair, and one run of one: two clients
// side by side against the VIP (a probe opening a fresh connection every 10 ms, and a
// sequential client whose request waits for the previous one, 300 ms timeout), the fault, then
// what each client saw (test/lab/client-figures.ts) and how long until the client's neighbour
// entry for the VIP pointed at the new holder. Where a scenario asks, a third client keeps
// connections alive and does not retry (wrk, one thread per connection), for its longest silence.
import { sleep, waitFor } from '@lbha/test-support';
import { clientFigures, type ClientFigures, type Lab, type LbNode, type ProbeRecord, type ProbeSession, type WrkOptions, type WrkResult } from '../lab/index.js';

export const VIP = 'vip1';
export const HOLDER: LbNode = 'lb1';
export const PEER: LbNode = 'lb2';
/** How long an 'observe' run watches the clients after the fault. */
export const OBSERVE_MS = 20_000;

/**
 * The kept-alive client: what unplanned-failover.test.ts runs, 12 s from before the fault (longer
 * than any 'peer' settle; the run waits for it).
 */
export const KEPT_ALIVE: WrkOptions = { connections: 8, durationS: 12, timeoutS: 3, delayMs: 20, perConnection: true };

export interface Scenario {
  readonly name: string;
  readonly what: string;
  /** The kept-alive client (KEPT_ALIVE) runs too: faults where a kept-alive connection stalled. */
  readonly keptAlive?: boolean;
  /**
   * When the run is over: 'peer' once the peer serves; 'home' once the holder serves again
   * after the peer did (faults lbha repairs by itself); 'holder' once the holder serves again a
   * second after the fault (a restart in place that may move nothing); 'observe' after
   * OBSERVE_MS whatever happens (a fault the configuration may never notice).
   */
  readonly settle: 'peer' | 'home' | 'holder' | 'observe';
  inject(lab: Lab): Promise<void>;
  repair(lab: Lab): Promise<void>;
}

export interface RunResult {
  readonly probe: ClientFigures;
  readonly sequential: ClientFigures;
  /** From the fault until the client's neighbour entry for the VIP named the peer's MAC (undefined: never). */
  readonly neighbourMovedMs: number | undefined;
  /** The kept-alive client's report, where the scenario runs it. */
  readonly keptAlive?: WrkResult;
}

const noRepair = async (): Promise<void> => undefined;

export const SCENARIOS = {
  proxyDeath: {
    name: 'proxy-death',
    what: 'nginx master+workers SIGKILLed on the holder, config broken (cannot restart)',
    settle: 'peer',
    inject: async (lab: Lab) => void (await lab.killProxy(HOLDER, { breakConfig: true })),
    repair: async (lab: Lab) => lab.restoreProxyConfig(HOLDER),
  },
  proxyKilled: {
    name: 'proxy-killed',
    what: 'nginx master+workers SIGKILLed on the holder, config valid (restarted in place)',
    settle: 'holder',
    inject: async (lab: Lab) => void (await lab.killProxy(HOLDER)),
    repair: noRepair,
  },
  hungProxy: {
    name: 'hung-proxy',
    what: 'nginx master+workers SIGSTOPped on the holder (alive, not answering)',
    settle: 'peer',
    inject: async (lab: Lab) => void (await lab.signalProxy(HOLDER, 'SIGSTOP')),
    repair: async (lab: Lab) => void (await lab.signalProxy(HOLDER, 'SIGCONT')),
  },
  innerLinkDown: {
    name: 'inner-link-down',
    what: "inner interface eth2 of the holder down (the seed's track_interface)",
    settle: 'peer',
    keptAlive: true,
    inject: (lab: Lab) => lab.setLink(HOLDER, 'eth2', 'down'),
    repair: (lab: Lab) => lab.setLink(HOLDER, 'eth2', 'up'),
  },
  keepalivedKilled: {
    name: 'keepalived-killed',
    what: 'keepalived SIGKILLed on the holder, VRRP child first (nobody sends its priority-0 advert)',
    settle: 'peer',
    keptAlive: true,
    inject: async (lab: Lab) => void (await lab.killKeepalived(HOLDER, 'SIGKILL')),
    repair: noRepair,
  },
  nodeLost: {
    name: 'node-lost',
    what: 'every link of the holder down (node lost)',
    settle: 'peer',
    inject: (lab: Lab) => lab.setNodeLinks(HOLDER, 'down'),
    repair: (lab: Lab) => lab.setNodeLinks(HOLDER, 'up'),
  },
} satisfies Record<string, Scenario>;

/** Waits until the client has `count` successful responses sent at or after `sinceMs` through `lb`. */
export async function waitForServedBy(probe: ProbeSession, lb: LbNode, sinceMs: number, count: number, timeoutMs: number): Promise<void> {
  await waitFor(`${count} successful requests through ${lb}`, async () => {
    const good = (await probe.records()).filter((r) => r.t >= sinceMs && r.ok && r.lb === lb).length;
    return good >= count ? { done: true, value: undefined } : { done: false, observed: `${good} so far` };
  }, { timeoutMs, intervalMs: 50 });
}

/** Polls the client's neighbour entry for the VIP until it names `mac`; resolves with when it did. */
async function watchNeighbour(lab: Lab, mac: string, untilMs: number): Promise<number | undefined> {
  while (Date.now() < untilMs) {
    const e = await lab.clientNeighbour(VIP).catch(() => undefined);
    if (e?.mac === mac) return Date.now();
    await sleep(10);
  }
  return undefined;
}

/** One run: both clients clean through the holder, the fault, the settle, the repair. */
export async function unplannedRun(lab: Lab, scenario: Scenario, timeoutMs: number): Promise<RunResult> {
  const probe = await lab.startProbe(VIP, { maxDurationMs: 180_000 });
  const sequential = await lab.startProbe(VIP, { maxDurationMs: 180_000, sequential: true, timeoutMs: 300 });
  const peerMac = await lab.macOf(PEER);
  let records: ProbeRecord[] = [];
  let seqRecords: ProbeRecord[] = [];
  let t0 = 0;
  let moved: number | undefined;
  let kept: Promise<WrkResult> | undefined;
  let keptAlive: WrkResult | undefined;
  try {
    await waitForServedBy(probe, HOLDER, 0, 30, 20_000);
    await waitForServedBy(sequential, HOLDER, 0, 10, 20_000);
    if (scenario.keptAlive) {
      kept = lab.wrk(VIP, KEPT_ALIVE);
      kept.catch(() => undefined);
      // Its connections opened (through the holder) before the fault.
      await sleep(500);
    }
    t0 = Date.now();
    const neighbour = watchNeighbour(lab, peerMac, t0 + Math.min(timeoutMs, 15_000));
    await scenario.inject(lab);
    switch (scenario.settle) {
      case 'observe':
        await sleep(OBSERVE_MS);
        break;
      case 'home':
        await waitForServedBy(probe, PEER, t0, 1, timeoutMs);
        await waitForServedBy(probe, HOLDER, Date.now(), 30, timeoutMs);
        break;
      case 'holder':
        await sleep(1000);
        await waitForServedBy(probe, HOLDER, Date.now(), 30, timeoutMs);
        await waitForServedBy(sequential, HOLDER, Date.now(), 10, timeoutMs);
        break;
      case 'peer':
        await waitForServedBy(probe, PEER, t0, 30, timeoutMs);
        await waitForServedBy(sequential, PEER, t0, 10, timeoutMs);
        break;
    }
    await sleep(200);
    const at = await Promise.race([neighbour, sleep(10).then(() => undefined)]);
    moved = at === undefined ? undefined : at - t0;
    if (kept) keptAlive = await kept;
  } finally {
    records = await probe.stop();
    seqRecords = await sequential.stop();
  }
  await scenario.repair(lab);
  const o = { faultMs: t0, newHolder: PEER, fromMs: t0 - 1000 };
  return { probe: clientFigures(records, o), sequential: clientFigures(seqRecords, o), neighbourMovedMs: moved, ...(keptAlive ? { keptAlive } : {}) };
}
