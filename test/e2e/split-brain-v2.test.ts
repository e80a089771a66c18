// The split brain of split-brain.test.ts with VRRPv2 and PASS authentication, as both seeds
// configure keepalived (deploy/examples/*/cluster.yaml): 1 s adverts, the cluster's password and
// vip2 with its own (seed 1's VI_2). The node that gives a VIP up repeats VRRPv2 adverts with the
// instance's password; keepalived drops adverts whose password is wrong, so nothing else would
// make the holder answer. Also without a coordinator: the repeats alone must move the clients.
import { describe, it } from 'node:test';
import type { Lab } from '../lab/index.js';
import { clearVrrpDrop } from '../lab/vrrp-path.js';
import { skipReason, useAgentLab } from './e2e-support.js';
import { splitAndHealOneWayFirst } from './split-brain-scenario.js';

const ADVERT_MS = 1000;
// Longer than VRRPv2's master-down time (3 intervals + skew): both nodes take both VIPs.
const SPLIT_MS = 8000;

describe('split brain healing with VRRPv2 and PASS authentication (nginx active/active)', { skip: skipReason, timeout: 8 * 60_000 }, () => {
  let lab: Lab;
  useAgentLab('a', (l) => (lab = l), {
    vrrp2: { authPass: '1111', vipAuthPass: { vip2: '2222' } },
    afterRepair: async (l) => Promise.all([clearVrrpDrop(l, 'lb1'), clearVrrpDrop(l, 'lb2')]).then(() => undefined),
  });

  it('clients reach each VIP on its holder within one advert interval + 100 ms of the heal, and lbha reports converged only after', async () => {
    await splitAndHealOneWayFirst(lab, { advertMs: ADVERT_MS, splitMs: SPLIT_MS });
  });

  it('without a coordinator, the repeated adverts alone bring the clients back within one advert interval + 100 ms', async () => {
    await splitAndHealOneWayFirst(lab, { advertMs: ADVERT_MS, splitMs: SPLIT_MS, withoutCoordinator: true });
  });
});
