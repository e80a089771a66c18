// The managed include of one nginx upstream: its `server` lines, rendered from the pool the
// cluster spec declares and the state the coordinator wants of each server (`down` for a
// drained or disabled one, `weight=` for a reweighted one). The operator's upstream block
// includes the file in place of its server lines; the agent writes it, nginx -t validates the
// whole configuration, and a graceful reload applies it. Pure: text out.
import { serverKey, type DesiredPool, type ServerIntent } from '@lbha/shared';

/** fail_timeout takes whole seconds (nginx -t refuses "1500ms" there); the spec asks for whole seconds. */
function seconds(ms: number): string {
  return `${Math.ceil(ms / 1000)}s`;
}

/** The include's file name for a pool (pool names cannot hold a path separator). */
export function includeFileName(pool: string): string {
  return `${pool}.conf`;
}

export function renderUpstreamInclude(pool: DesiredPool, intents: ReadonlyMap<string, ServerIntent>): string {
  const lines = pool.servers.map((s) => {
    const intent = intents.get(serverKey(pool.name, s.name));
    // nginx has no weight 0 (the coordinator refuses it for nginx): 0 is nginx's default.
    const weight = intent?.weight ?? s.weight;
    const down = intent !== undefined && intent.admin !== 'ready';
    const params = [
      ...(weight > 0 && weight !== 1 ? [`weight=${weight}`] : []),
      // Unset (null): nginx's defaults, 1 and 10s; 0 is rendered, it means something to nginx.
      ...(s.maxFails !== null ? [`max_fails=${s.maxFails}`] : []),
      ...(s.failTimeoutMs !== null ? [`fail_timeout=${seconds(s.failTimeoutMs)}`] : []),
      ...(s.maxConns > 0 ? [`max_conns=${s.maxConns}`] : []),
      ...(s.backup ? ['backup'] : []),
      ...(down ? ['down'] : []),
    ];
    const state = intent && intent.admin !== 'ready' ? `  # ${s.name}: ${intent.admin}` : `  # ${s.name}`;
    return `server ${s.address}${params.map((p) => ` ${p}`).join('')};${state}`;
  });
  return [`# upstream ${pool.name}: written by lbha-agent from the cluster spec (backends.pools); do not edit.`, ...lines, ''].join('\n');
}
