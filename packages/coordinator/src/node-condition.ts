// A node's condition for placement (health, penalty, mode, healthy since) from what its agent
// reports, and the health events its changes raise. Pure.
import { isLive, type NodeMode } from '@lbha/shared';
import type { EventInput } from './event-log.js';
import type { NodeObservation } from './node-observation.js';
import type { NodeCondition, NodeHealth } from './placement.js';

/** What a node's condition remembers between passes. */
export interface HealthMemory {
  readonly health: NodeHealth;
  /** When the node last became healthy; meaningful while it is healthy. */
  readonly healthySinceMs: number;
}

export interface ConditionResult {
  readonly condition: NodeCondition;
  readonly memory: HealthMemory;
  readonly event: EventInput | undefined;
}

/**
 * A node whose agent is not live, or has not reported yet, is `unknown`: it may well be
 * serving. Only a change of health raises an event (unhealthy, or healthy again after unhealthy).
 */
export function nodeCondition(name: string, obs: NodeObservation | undefined, mode: NodeMode, before: HealthMemory | undefined, now: number): ConditionResult {
  const snapshot = obs !== undefined && isLive(obs.link) ? obs.snapshot : undefined;
  const health: NodeHealth = !snapshot ? 'unknown' : snapshot.healthy ? 'healthy' : 'unhealthy';
  const penalty = (snapshot?.checks ?? []).reduce((s, c) => s + (c.effect === 'penalty' && c.result.kind === 'unhealthy' ? c.penalty : 0), 0);
  const healthySinceMs = health === 'healthy' && before?.health !== 'healthy' ? now : (before?.healthySinceMs ?? now);
  let event: EventInput | undefined;
  if (health !== before?.health) {
    const cluster = obs?.cluster ?? '';
    if (health === 'unhealthy') {
      const failing = (snapshot?.checks ?? []).filter((c) => c.result.kind !== 'healthy' && c.effect === 'fault').map((c) => `${c.name}: ${c.result.kind === 'healthy' ? '' : c.result.reason}`);
      event = { type: 'node.unhealthy', cluster, node: name, severity: 'warning', message: `${name} is unhealthy`, reason: failing.join('; ') };
    } else if (health === 'healthy' && before?.health === 'unhealthy') {
      event = { type: 'node.healthy', cluster, node: name, message: `${name} is healthy again` };
    }
  }
  return {
    condition: { health, penalty, mode, healthySinceMs: health === 'healthy' ? healthySinceMs : null },
    memory: { health, healthySinceMs },
    event,
  };
}
