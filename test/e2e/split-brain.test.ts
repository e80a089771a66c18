// A split brain and its healing in the lab with VRRPv3 and 100 ms adverts (lbha's default): the
// path heals one way first, and the clients must be back on each VIP's holder within one advert
// interval + 100 ms of the path being whole, before lbha reports the VIP converged
// (split-brain-scenario.ts; the VRRPv2 variant is split-brain-v2.test.ts).
import { describe, it } from 'node:test';
import type { Lab } from '../lab/index.js';
import { clearVrrpDrop } from '../lab/vrrp-path.js';
import { skipReason, useAgentLab } from './e2e-support.js';
import { splitAndHealOneWayFirst } from './split-brain-scenario.js';

describe('split brain healing (nginx active/active)', { skip: skipReason, timeout: 6 * 60_000 }, () => {
  let lab: Lab;
  useAgentLab('a', (l) => (lab = l), { afterRepair: async (l) => Promise.all([clearVrrpDrop(l, 'lb1'), clearVrrpDrop(l, 'lb2')]).then(() => undefined) });

  it('clients reach each VIP on its holder within one advert interval + 100 ms of the heal, and lbha reports converged only after', async () => {
    await splitAndHealOneWayFirst(lab, { advertMs: 100, splitMs: 6000 });
  });
});
