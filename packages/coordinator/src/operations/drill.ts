// drill CLUSTER [--vip VIP]: per VIP of the plan (drill-plan.ts), in order: VIP/to-STANDBY/pin,
// .../move-vip (the move's steps), .../hold (the standby serves while the probes go on), then
// VIP/back-HOME/pin, .../move-vip and .../unpin (the drill's pin removed), each move measured by probes from outside the two nodes
// (probes/vip-prober.ts). A move that fails does not stop the drill: the VIP is still brought
// home, the result says what failed, and the next VIP is drilled. Each VIP's figures are kept
// in the record and reported as a drill.vip_result event; the drill fails when any VIP did.
// A coordinator restart during a move leaves that move unmeasured; the resumed drill brings the
// VIP home and carries on (docs/design/drill.md).
import { OperationFailedError } from '../errors.js';
import { describeVip, judgeVip, phaseFigures, UNMEASURED, type PhaseFigures, type VipDrillResult } from './drill-figures.js';
import { decodePlan, type DrillLeg } from './drill-plan.js';
import { arrived, moveVip } from './move.js';
import type { OperationContext } from './operation-context.js';

/** Why `node` could not take `vip` now, or undefined when it could (the move's own checks). */
export type WhyNot = (vip: string, node: string) => string | undefined;

/** The longest a drill waits for its prober's first probe before it moves a VIP anyway. */
const PROBER_START_MS = 10_000;

interface Phase {
  readonly figures: PhaseFigures;
  readonly error: string;
}

/** The VIP's address alone (the view's carries its prefix). */
function addressOf(ctx: OperationContext, vip: string): string {
  const cluster = ctx.env.view.currentSpec().clusters.find((c) => c.name === ctx.record.cluster);
  return cluster?.vips.find((v) => v.name === vip)?.address ?? '';
}

/** Runs `move` while probing the VIP; `move` says when the VIP reached its node. */
async function measured(ctx: OperationContext, vip: string, resumed: boolean, move: (arrivedAt: (ms: number) => void) => Promise<void>): Promise<Phase> {
  const session = ctx.env.drill.prober.start(addressOf(ctx, vip));
  // The move starts once the probes are going, so their start-up is not counted as a gap.
  await session.ready(PROBER_START_MS);
  const startMs = ctx.now();
  let arrivedMs: number | null = null;
  let error = '';
  try {
    await move((ms) => (arrivedMs = ms));
  } catch (err) {
    if (!(err instanceof OperationFailedError)) {
      await session.stop();
      throw err;
    }
    error = err.message;
  }
  const out = await session.stop();
  const figures = phaseFigures(out.results, { startMs, arrivedMs, endMs: ctx.now() }, !resumed);
  return { figures, error: [error, out.problem && `the prober (${ctx.env.drill.prober.where}): ${out.problem}`].filter((x) => x !== '').join('; ') };
}

/** Waits the hold time (the VIP serving from its node while the probes go on); cancel still works. */
async function hold(ctx: OperationContext): Promise<void> {
  await ctx.waitFor(() => false, Math.min(ctx.env.drill.holdMs, ctx.remaining()));
}

function parsed(text: string | undefined): Phase | undefined {
  return text === undefined ? undefined : (JSON.parse(text) as Phase);
}

async function drillVip(ctx: OperationContext, leg: DrillLeg, whyNot: WhyNot): Promise<VipDrillResult> {
  const { view, pins } = ctx.env;
  const cluster = ctx.record.cluster;
  const { vip, home, standby } = leg;
  const p = `${vip}/`;
  const kept = ctx.data(`${p}result`);
  if (kept !== undefined) return JSON.parse(kept) as VipDrillResult;
  const toStep = `${p}to-${standby}`;
  const backStep = `${p}back-${home}`;

  // There: at most half the VIP's time, so that the way back always has the other half.
  let to = parsed(ctx.data(`${p}to`));
  if (!to && ctx.data(`${p}to-started`) !== undefined) to = { figures: UNMEASURED, error: 'the coordinator restarted during the move to the standby' };
  if (!to) {
    await ctx.setData({ [`${p}to-started`]: String(ctx.now()) });
    const phase = await ctx.within(ctx.now() + Math.floor(ctx.remaining() / 2), () =>
      measured(ctx, vip, false, async (arrivedAt) => {
        await moveVip(ctx, { cluster, vip, node: standby, sticky: false }, `${toStep}/`);
        arrivedAt(ctx.now());
        await ctx.step(`${toStep}/hold`, async () => {
          await hold(ctx);
          return `${vip} served from ${standby}`;
        });
      }),
    );
    to = phase;
    await ctx.setData({ [`${p}to`]: JSON.stringify(phase) });
  }

  // And back: with the move's steps when home can take the VIP, else placement decides.
  let back = parsed(ctx.data(`${p}back`));
  if (!back) {
    const resumed = ctx.data(`${p}back-started`) !== undefined;
    if (!resumed) await ctx.setData({ [`${p}back-started`]: String(ctx.now()) });
    back = await measured(ctx, vip, resumed, async (arrivedAt) => {
      const problem = whyNot(vip, home);
      if (problem !== undefined) {
        if (pins.pinOf(cluster, vip)?.operationId === ctx.id) await pins.setPin(cluster, vip, null);
        throw new OperationFailedError(`${vip} could not be moved back to ${home} (${problem}); placement decides where it goes`);
      }
      await moveVip(ctx, { cluster, vip, node: home, sticky: false }, `${backStep}/`);
      arrivedAt(ctx.now());
      await ctx.step(`${backStep}/unpin`, async () => {
        if (pins.pinOf(cluster, vip)?.operationId === ctx.id) await pins.setPin(cluster, vip, null);
        await hold(ctx);
        return arrived(view, { cluster, vip, node: home }) ? `${vip} home on ${home}; the drill's pin removed` : `${vip} is not on ${home} after its pin was removed`;
      });
    });
    await ctx.setData({ [`${p}back`]: JSON.stringify(back) });
  }

  const holders = view.vips(cluster).find((v) => v.name === vip)?.actualHolders ?? [];
  const result: VipDrillResult = {
    vip,
    home,
    standby,
    to: to.figures,
    back: back.figures,
    error: [to.error, back.error].filter((e) => e !== '').join('; '),
    endedOn: holders.length === 1 ? (holders[0] as string) : holders.join(','),
  };
  await ctx.setData({ [`${p}result`]: JSON.stringify(result) });
  ctx.env.events.record({
    type: 'drill.vip_result',
    cluster,
    vip,
    node: standby,
    operationId: ctx.id,
    actor: ctx.record.actor,
    severity: judgeVip(result).kind === 'passed' ? 'info' : 'warning',
    message: describeVip(result),
  });
  return result;
}

export async function drill(ctx: OperationContext, whyNot: WhyNot): Promise<string> {
  const legs = decodePlan(ctx.data('plan') ?? '');
  const results: VipDrillResult[] = [];
  for (const [k, leg] of legs.entries()) {
    // VIP k is done by the end of its share: the drill's deadline less the shares after it.
    const share = ctx.deadline() - (legs.length - 1 - k) * ctx.record.timeoutMs;
    results.push(await ctx.within(share, () => drillVip(ctx, leg, whyNot)));
  }
  const failed = results.filter((r) => judgeVip(r).kind === 'failed');
  const verdict = failed.length === 0 ? 'passed' : 'failed';
  await ctx.setData({ verdict });
  await ctx.env.drills.finished(ctx.record.cluster, { operationId: ctx.id, finishedMs: ctx.now(), passed: failed.length === 0, results });
  const summary = `${results.length - failed.length} of ${results.length} VIPs moved to their standby and back without a failed probe`;
  ctx.env.events.record({
    type: 'drill.finished',
    cluster: ctx.record.cluster,
    operationId: ctx.id,
    actor: ctx.record.actor,
    severity: failed.length === 0 ? 'info' : 'warning',
    message: `drill of cluster ${ctx.record.cluster} ${verdict}: ${summary}${failed.length > 0 ? `; failed: ${failed.map((r) => r.vip).join(', ')}` : ''}`,
  });
  if (failed.length > 0) throw new OperationFailedError(`drill failed: ${failed.map(describeVip).join(' | ')}`);
  return `drill passed: ${results.map(describeVip).join(' | ')}`;
}
