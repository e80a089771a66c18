// Shared pieces of the end-to-end tests: when to skip, and assertions on what the client saw.
import assert from 'node:assert/strict';
import type { Lab, LbNode, ProbeRecord, ProbeSession } from '../lab/index.js';
import { labUnavailableReason, waitFor, webNodeOfPage } from '../lab/index.js';

/** Why the lab tests cannot run here (not root), or undefined. CI runs as root, so there they run. */
export const skipReason: string | undefined = (() => {
  const reason = labUnavailableReason();
  return reason === undefined ? undefined : `skipped: ${reason}`;
})();

/** Every request succeeded, went through `lb`, and the web nodes took turns. */
export function assertServedBy(lab: Lab, records: readonly ProbeRecord[], lb: LbNode): void {
  assert.ok(records.length > 0, 'no requests were sent');
  const failed = records.filter((r) => !r.ok);
  assert.deepEqual(failed.map((r) => r.error), [], 'every request succeeds');
  assert.deepEqual([...new Set(records.map((r) => r.lb))], [lb], `every request is served by ${lb}`);
  const webs = records.map((r) => webNodeOfPage(lab.plan, r.page ?? ''));
  assert.ok(!webs.includes(undefined), `every page is a web node's page, got ${JSON.stringify(records.map((r) => r.page))}`);
  assert.deepEqual(new Set(webs), new Set(['web1', 'web2']), 'both web nodes answer');
  // Round robin: consecutive requests alternate between the web nodes.
  for (let i = 1; i < webs.length; i++) assert.notEqual(webs[i], webs[i - 1], `requests alternate between web nodes: ${webs.join(' ')}`);
}

/** Successful responses after `fromMs` came only through `lb`. */
export function servedOnlyBy(records: readonly ProbeRecord[], lb: LbNode, fromMs = 0): boolean {
  return records.filter((r) => r.ok && r.t >= fromMs).every((r) => r.lb === lb);
}

/** Waits until the probe has `count` successful responses sent at or after `sinceMs` (optionally via `lb`). */
export async function waitForSuccesses(probe: ProbeSession, sinceMs: number, count: number, lb?: LbNode, timeoutMs = 15_000): Promise<ProbeRecord[]> {
  return waitFor(`${count} successful requests to ${probe.vip.address}${lb ? ` through ${lb}` : ''}`, async () => {
    const records = (await probe.records()).filter((r) => r.t >= sinceMs);
    const good = records.filter((r) => r.ok && (lb === undefined || r.lb === lb));
    return good.length >= count
      ? { done: true, value: records }
      : { done: false, observed: `${good.length} of ${records.length} since then` };
  }, { timeoutMs, intervalMs: 50 });
}
