// /metrics of a running coordinator whose fake agents speak the real agent protocol over gRPC
// and elect VRRP masters among themselves: desired holders and VIP conditions come from the
// reconciler, failovers from the agents' deltas, NACKs and push latency from real ACKs.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually } from '@lbha/test-support';
import { find, parseExposition, value, type Sample } from './support/exposition.js';
import { Harness, LB1, LB2 } from './support/coordinator-harness.js';

describe('metrics of a running coordinator', () => {
  let h: Harness;
  const scrape = async (): Promise<Sample[]> => parseExposition((await h.server.metrics.render()).body);

  before(async () => {
    h = await Harness.seeded();
  });

  after(async () => {
    await h.stop();
  });

  it('shows the spec VIPs on their desired holders, in place', async () => {
    const s = await eventually(async () => {
      const x = await scrape();
      return find(x, 'lbha_vip_status', { state: 'in_place' }).length === 2 ? x : undefined;
    }, 'both VIPs in place in /metrics');
    assert.equal(value(s, 'lbha_vip_desired_holder', { cluster: 'web', vip: 'vip-28' }), 1);
    assert.equal(find(s, 'lbha_vip_desired_holder', { vip: 'vip-28' })[0]?.labels['node'], LB1);
    assert.equal(find(s, 'lbha_vip_holder', { vip: 'vip-29' })[0]?.labels['node'], LB2);
    assert.equal(value(s, 'lbha_vips', { cluster: 'web', state: 'in_place' }), 2);
    assert.equal(value(s, 'lbha_node_connected', { node: LB1 }), 1);
    assert.equal(value(s, 'lbha_node_mode', { node: LB1, state: 'active' }), 1);
    assert.ok(value(s, 'lbha_desired_state_push_duration_seconds_count') >= 2, 'pushes were ACKed and timed');
  });

  it('counts the failover when the holder of vip-28 goes unhealthy, with reason health', async () => {
    h.agents.get(LB1)?.setHealth(false);
    const s = await eventually(async () => {
      const x = await scrape();
      const moved = find(x, 'lbha_failovers_total', { vip: 'vip-28' }).length > 0;
      const replaced = find(x, 'lbha_vip_desired_holder', { vip: 'vip-28', node: LB2 }).length === 1;
      return moved && replaced && find(x, 'lbha_vip_status', { vip: 'vip-28', state: 'in_place' }).length === 1 ? x : undefined;
    }, 'the failover of vip-28 counted, placement following it, the VIP in place again');
    assert.equal(value(s, 'lbha_failovers_total', { cluster: 'web', vip: 'vip-28', reason: 'health' }), 1);
    assert.equal(value(s, 'lbha_failover_duration_seconds_count', { reason: 'health' }), 1);
    assert.equal(find(s, 'lbha_vip_holder', { vip: 'vip-28' })[0]?.labels['node'], LB2);
    assert.equal(find(s, 'lbha_vip_desired_holder', { vip: 'vip-28' })[0]?.labels['node'], LB2, 'placement followed');
    assert.equal(value(s, 'lbha_node_healthy', { node: LB1 }), 0);
    assert.equal(value(s, 'lbha_check_status', { node: LB1, check: 'proxy', state: 'unhealthy' }), 1);
    assert.ok(value(s, 'lbha_vrrp_transitions_total', { vip: 'vip-28', state: 'master' }) >= 1);
    h.agents.get(LB1)?.setHealth(true);
    await eventually(async () => find(await scrape(), 'lbha_vip_holder', { vip: 'vip-28', node: LB1 }).length === 1, 'vip-28 back home');
  });

  it('shows an agent that went away as disconnected, and the VIPs it reported as unknown rather than orphaned', async () => {
    h.agents.get(LB2)?.disconnect();
    const s = await eventually(async () => {
      const x = await scrape();
      return find(x, 'lbha_node_connected', { node: LB2 })[0]?.value === 0 && find(x, 'lbha_vip_status', { vip: 'vip-29', state: 'unknown' }).length === 1 ? x : undefined;
    }, 'lb2 disconnected in /metrics');
    assert.equal(find(s, 'lbha_vrrp_state', { node: LB2 }).length, 0);
    assert.equal(find(s, 'lbha_vip_status', { state: 'orphaned' }).length, 0);
  });
});
