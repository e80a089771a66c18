// backend drain|undrain|disable|enable|weight CLUSTER SERVER: intent (what is wanted of the
// servers, stored, and sent to every LB node with its desired state) → apply (every LB node of
// the cluster runs it, as its agent reports) → sessions (drain and disable: the servers'
// sessions end on every node, within the time left). Nothing is rolled back on failure or
// cancel: the wanted state stays, and the agents keep applying it.
import { isLive, serverKey, type BackendReport, type DesiredState } from '@lbha/shared';
import { OperationFailedError } from '../errors.js';
import type { BackendIntentRecord } from '../store/coordinator-state.js';
import { isBackendKind } from '../store/coordinator-state.js';
import { changeOf, waitsForSessions } from './backend-request.js';
import { secs, type OperationContext } from './operation-context.js';

function describe(i: Pick<BackendIntentRecord, 'admin' | 'weight'>): string {
  return `${i.admin}${i.weight === null ? '' : ` with weight ${i.weight}`}`;
}

/** Why `node` does not run the wanted states yet ('' when it does). */
function pendingOn(node: string, desired: DesiredState | undefined, linked: boolean, report: BackendReport | undefined, wanted: ReadonlyMap<string, BackendIntentRecord>): string {
  if (!linked) return `${node}: agent not connected`;
  const told = desired?.backends?.intents ?? [];
  const sent = [...wanted].every(([key, w]) => told.some((i) => serverKey(i.pool, i.server) === key && i.admin === w.admin && (i.weight ?? null) === w.weight));
  if (!desired || !sent) return `${node}: not told yet`;
  if (!report) return `${node}: no backend report yet`;
  if (report.appliedVersion < desired.version) return `${node}: applying${report.error ? ` (${report.error})` : ''}`;
  for (const [key, w] of wanted) {
    const s = report.servers.find((x) => serverKey(x.pool, x.server) === key);
    if (!s) {
      if (w.admin === 'ready' && w.weight === null) continue;
      return `${node}: does not run ${key}`;
    }
    if (s.admin !== w.admin) return `${node}: runs ${key} ${s.admin}`;
    if (w.weight !== null && s.weight !== w.weight) return `${node}: runs ${key} with weight ${s.weight}`;
  }
  return '';
}

export async function backendChange(ctx: OperationContext): Promise<string> {
  const r = ctx.record;
  if (!isBackendKind(r.kind)) throw new OperationFailedError(`${r.kind} is not a backend operation`);
  const kind = r.kind;
  const { view, backends, nodes } = ctx.env;
  const cluster = view.currentSpec().clusters.find((c) => c.name === r.cluster);
  if (!cluster) throw new OperationFailedError(`cluster ${r.cluster} is no longer in the spec`);
  const targets = (ctx.data('targets') ?? '').split(',').filter((t) => t !== '');
  const weight = ctx.data('weight') ?? '';
  const change = changeOf(kind, weight === '' ? undefined : weight === 'reset' ? null : Number(weight));
  const wanted = () => new Map(targets.map((k) => [k, backends.intentsOf(cluster.name)[k]]).filter((e): e is [string, BackendIntentRecord] => e[1] !== undefined));
  const stays = () => `; ${[...wanted()].map(([k, w]) => `${k} stays wanted ${describe(w)}`).join(', ')}`;

  await ctx.step('intent', async () => {
    const before = backends.intentsOf(cluster.name);
    const records = targets.map((key): BackendIntentRecord => {
      const [pool, server] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
      const old = before[key];
      return {
        pool,
        server,
        admin: change.admin ?? old?.admin ?? 'ready',
        weight: change.weight !== undefined ? change.weight : (old?.weight ?? null),
        actor: r.actor,
        reason: r.reason,
        sinceMs: ctx.now(),
        operationId: ctx.id,
      };
    });
    const changed = await backends.set(cluster.name, records);
    return changed.length > 0 ? changed.join(', ') : `${targets.join(', ')} already ${describe(records[0] as BackendIntentRecord)}`;
  });

  await ctx.step('apply', async () => {
    const budget = ctx.remaining();
    const pending = () =>
      cluster.nodes
        .map((n) => {
          const rec = nodes.get(n.name);
          return pendingOn(n.name, view.desiredOf(n.name), rec !== undefined && isLive(rec.link), rec?.snapshot?.backends, wanted());
        })
        .filter((p) => p !== '');
    // A node whose agent tried this desired state and failed says why; no point waiting.
    const refused = () =>
      cluster.nodes
        .map((n) => ({ node: n.name, d: view.desiredOf(n.name), rep: nodes.get(n.name)?.snapshot?.backends }))
        .find((x) => x.d && x.rep && x.rep.error !== '' && x.rep.errorVersion >= x.d.version && x.rep.appliedVersion < x.d.version);
    await ctx.waitFor(() => pending().length === 0 || refused() !== undefined, budget);
    const no = refused();
    if (no) throw new OperationFailedError(`${no.node} could not apply it: ${no.rep?.error}${stays()}`);
    const left = pending();
    if (left.length > 0) throw new OperationFailedError(`not confirmed by every LB node within ${secs(budget)}: ${left.join('; ')}${stays()}`);
    return `${cluster.nodes.map((n) => n.name).join(', ')} run ${[...wanted()].map(([k, w]) => `${k} ${describe(w)}`).join(', ')}`;
  });

  if (waitsForSessions(kind)) {
    await ctx.step('sessions', async () => {
      const budget = ctx.remaining();
      // A node whose agent is not reporting has sessions nobody can count (its proxy may well
      // still serve them): the wait goes on until it reports, rather than reading it as none.
      const open = () => {
        const reports = backends.reports(cluster);
        const per = reports.map((n) => ({ node: n.node, sessions: (n.report?.servers ?? []).filter((s) => targets.includes(serverKey(s.pool, s.server))).reduce((a, s) => a + s.sessions, 0) }));
        const silent = reports.filter((n) => n.report === undefined).map((n) => n.node);
        const text = [...per.filter((p) => p.sessions > 0).map((p) => `${p.node} ${p.sessions}`), ...silent.map((n) => `${n} not reporting`)].join(', ');
        return { total: per.reduce((a, p) => a + p.sessions, 0), known: silent.length === 0, text };
      };
      let last = '';
      const done = await ctx.waitFor(() => {
        const o = open();
        const message = o.total === 0 && o.known ? 'no sessions left' : o.total === 0 ? `sessions unknown (${o.text})` : `${o.total} sessions left (${o.text})`;
        if (message !== last) {
          last = message;
          void ctx.save({ activeConnections: o.total, message }, false);
        }
        return o.total === 0 && o.known;
      }, budget);
      if (!done) throw new OperationFailedError(`sessions did not end within ${secs(budget)}: ${open().text}${stays()}`);
      await ctx.save({ activeConnections: 0 });
      return `no sessions left on ${cluster.nodes.map((n) => n.name).join(', ')}`;
    });
  }
  return `${ctx.data('server')} in cluster ${cluster.name}: ${[...wanted()].map(([k, w]) => `${k} ${describe(w)}`).join(', ')}${waitsForSessions(kind) ? ', no sessions left' : ''}`;
}
