// A move back while the handover of the first move still runs (docs/design/handover.md): B took
// the VIP from A and forwards A's connections to A; now the VIP goes back to A, and B is told the
// outgoing side of the reverse handover. B still holds the VIP until keepalived moves it (the
// coordinator's hold and the VRRP move, about a second), and A's connections' packets still
// reach it: B keeps its table until the VIP has left its interface, or it would reset them.
// A has a table of its own meanwhile (the reverse handover's), so B's table must not forward
// what A forwarded to it: a packet that neither knows would go back and forth. B's rules are
// replaced by ones that leave A's frames alone (by A's MAC address); when A's address does not
// resolve, nothing lingers.
import type { CommandRunner } from '../util/run-command.js';
import { incomingRuleset } from './handover-ruleset.js';
import type { HandoverTask } from './handover-task.js';
import { peerLinkAddress } from './peer-link-address.js';

/** How often a lingering table looks whether the VIP has left. */
export const LINGER_POLL_MS = 100;
/** A table lingers this long at most (the hold is 2 s at most, keepalived's move follows at once). */
export const LINGER_MAX_MS = 10_000;

export interface LingerOptions {
  readonly ipProgram: string;
  readonly nodeProgram?: string;
  readonly run: CommandRunner;
  /** Loads a ruleset for `t` (nft -f); a problem, or undefined. */
  readonly load: (t: HandoverTask, text: string) => Promise<string | undefined>;
  readonly now: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Whether this node holds `t.vip` on `t.interface` now (the agent's address watcher). */
  readonly holdsVip: (t: HandoverTask) => boolean;
}

/** An incoming handover whose node is now told the outgoing side of the reverse move of the VIP. */
export function isMoveBack(was: HandoverTask, now: HandoverTask): boolean {
  return was.role === 'incoming' && now.role === 'outgoing' && was.peer === now.peer && was.vip === now.vip && was.interface === now.interface && was.vrid === now.vrid;
}

/** Re-rules `t`'s table so that it does not forward what the peer forwards; a problem, or undefined. */
export async function lingerRules(o: LingerOptions, t: HandoverTask): Promise<string | undefined> {
  const mac = await peerLinkAddress(o, t.peer, t.interface, 20);
  if (!mac) return `the link-layer address of ${t.peer} on ${t.interface} does not resolve`;
  return o.load(t, incomingRuleset(t, [], true, mac));
}

/** Resolves once `t.vip` is no longer an address of `t.interface`, or after LINGER_MAX_MS. */
export async function vipLeft(o: LingerOptions, t: HandoverTask): Promise<void> {
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const until = o.now() + LINGER_MAX_MS;
  while (o.now() < until && o.holdsVip(t)) await sleep(LINGER_POLL_MS);
}
