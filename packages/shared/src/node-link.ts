// How a node's agent stream stands, as the coordinator sees it, and the one test of whether its
// reports can be trusted now.

/**
 * - `connected`: the agent's stream is up and its messages arrive within the heartbeat deadline.
 * - `stale`: the stream is up, but the agent has been silent past the deadline.
 * - `disconnected`: no stream (it ended, or the agent never connected).
 *
 * Transitions: disconnected → connected (Hello accepted); connected → stale (deadline missed);
 * stale → connected (any message); connected | stale → disconnected (the stream ends).
 */
export type NodeLink = 'connected' | 'stale' | 'disconnected';

/**
 * Whether what the node's agent reports describes the node now: only over a connected link. A
 * stale or lost agent's last report may be out of date (its keepalived may well still serve).
 */
export function isLive(link: NodeLink): boolean {
  return link === 'connected';
}

/** The link as the API carries it (NodeInfo.connected, NodeInfo.stale). */
export function linkToWire(link: NodeLink): { readonly connected: boolean; readonly stale: boolean } {
  return { connected: link !== 'disconnected', stale: link === 'stale' };
}

export function linkFromWire(n: { readonly connected: boolean; readonly stale: boolean }): NodeLink {
  if (!n.connected) return 'disconnected';
  return n.stale ? 'stale' : 'connected';
}
