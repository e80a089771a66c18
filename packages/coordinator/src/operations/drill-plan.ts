// Which VIPs a drill moves, from where to where, or why it cannot start: pure over the fleet
// view's latest pass. A VIP is drilled from its holder (which must be its desired holder, alone,
// with the VIP ok) to its standby: the first node after the holder in placement's ranking that
// could take the VIP now (the node it would fail over to).

/** What the plan reads of one VIP. */
export interface DrillVipInput {
  readonly name: string;
  readonly desiredHolder: string;
  readonly actualHolders: readonly string[];
  readonly status: string;
  /** Placement's order of nodes for the VIP; ranking[0] is the desired holder. */
  readonly ranking: readonly string[];
  readonly pin?: { readonly node: string; readonly sticky: boolean; readonly actor: string };
}

/** One VIP's part of a drill: from its home (its holder when the drill starts) to its standby and back. */
export interface DrillLeg {
  readonly vip: string;
  readonly home: string;
  readonly standby: string;
}

export type DrillPlan = { readonly kind: 'planned'; readonly legs: readonly DrillLeg[] } | { readonly kind: 'refused'; readonly reasons: readonly string[] };

/**
 * Plans a drill of `vips` (in order). `whyNot(vip, node)` says why `node` could not take `vip`
 * now (unhealthy, drained, not connected, off the segment), or undefined when it could.
 */
export function planDrill(vips: readonly DrillVipInput[], whyNot: (vip: string, node: string) => string | undefined): DrillPlan {
  const legs: DrillLeg[] = [];
  const reasons: string[] = [];
  if (vips.length === 0) return { kind: 'refused', reasons: ['the cluster has no VIPs'] };
  for (const v of vips) {
    const r = legOf(v, whyNot);
    if (typeof r === 'string') reasons.push(r);
    else legs.push(r);
  }
  return reasons.length > 0 ? { kind: 'refused', reasons } : { kind: 'planned', legs };
}

function legOf(v: DrillVipInput, whyNot: (vip: string, node: string) => string | undefined): DrillLeg | string {
  if (v.pin) return `${v.name} is ${v.pin.sticky ? 'pinned' : 'moved'} to ${v.pin.node} by ${v.pin.actor || 'an operator'} (lbha unpin ${v.name} first)`;
  const home = v.desiredHolder;
  if (v.status !== 'ok' || home === '' || v.actualHolders.length !== 1 || v.actualHolders[0] !== home) {
    return `${v.name} is not settled (status ${v.status}, held by ${v.actualHolders.join(', ') || 'no node'}, desired holder ${home || 'none'})`;
  }
  const others = v.ranking.filter((n) => n !== home);
  if (others.length === 0) return `${v.name} has no standby: no other node could hold it`;
  const why: string[] = [];
  for (const n of others) {
    const w = whyNot(v.name, n);
    if (w === undefined) return { vip: v.name, home, standby: n };
    why.push(w);
  }
  return `${v.name} has no healthy, active standby: ${why.join('; ')}`;
}

/** "vip1:lb1:lb2,vip2:lb2:lb1": a plan as the operation's record keeps it. */
export function encodePlan(legs: readonly DrillLeg[]): string {
  return legs.map((l) => `${l.vip}:${l.home}:${l.standby}`).join(',');
}

export function decodePlan(text: string): DrillLeg[] {
  return text
    .split(',')
    .filter((x) => x !== '')
    .map((x) => {
      const [vip = '', home = '', standby = ''] = x.split(':');
      return { vip, home, standby };
    });
}
