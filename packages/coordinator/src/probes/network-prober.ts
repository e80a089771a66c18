// The coordinator probes the VIPs itself: right where the coordinator runs on a host of its own
// that reaches the VIPs as a client does (docs/design/drill.md).
import type { ProbeResult } from '../operations/drill-figures.js';
import { FirstResult } from './first-result.js';
import { startProbeLoop } from './probe-loop.js';
import type { ProbeSettings, VipProber } from './vip-prober.js';

export function networkProber(settings: ProbeSettings, clock: () => number = Date.now): VipProber {
  return {
    where: 'the coordinator',
    start(address) {
      const results: ProbeResult[] = [];
      const first = new FirstResult();
      const loop = startProbeLoop(address, settings, (r) => {
        results.push(r);
        first.seen();
      }, clock);
      return {
        ready: (maxMs) => first.wait(maxMs),
        stop: async () => {
          await loop.stop();
          return { results, problem: '' };
        },
      };
    },
  };
}
