// Whether the LB nodes of a cluster run the same proxy configuration. Each agent reports digests
// of its proxy's effective configuration and of the files the spec lists, per file; the nodes
// whose digests differ from the most common ones (the first node's, on a tie) are named with the
// files that differ. Directives the spec lets differ never reach the digests (the agents leave
// them out). Pure, and the event drafts for a drift that starts or ends.
import type { ConfigFileDigest } from '@lbha/shared';
import type { EventInput } from '../event-log.js';
import type { NodeReport } from './node-reports.js';

export interface NodeConfigView {
  readonly node: string;
  readonly configDigest: string;
  readonly filesDigest: string;
  readonly files: readonly ConfigFileDigest[];
  /** How this node differs from the reference node; '' when it does not. */
  readonly differs: string;
  /** Why its configuration could not be read, or that its agent is away. */
  readonly error: string;
}

export interface DriftView {
  readonly cluster: string;
  readonly drift: boolean;
  /** One line: which nodes differ from which and in which files; '' without drift. */
  readonly message: string;
  readonly nodes: readonly NodeConfigView[];
}

/** The files whose digests differ between two nodes (present on one only counts). */
function differingFiles(a: readonly ConfigFileDigest[], b: readonly ConfigFileDigest[]): string[] {
  const other = new Map(b.map((f) => [f.path, f.digest]));
  const out = a.filter((f) => other.get(f.path) !== f.digest).map((f) => f.path);
  for (const f of b) if (!a.some((x) => x.path === f.path)) out.push(f.path);
  return out;
}

const MAX_FILES_NAMED = 5;

export function configDrift(cluster: string, reports: readonly NodeReport[]): DriftView {
  const comparable = reports.filter((r) => r.live && r.report && r.report.configDigest !== '');
  const key = (r: NodeReport) => `${r.report?.configDigest} ${r.report?.filesDigest}`;
  const votes = new Map<string, number>();
  for (const r of comparable) votes.set(key(r), (votes.get(key(r)) ?? 0) + 1);
  const best = Math.max(0, ...votes.values());
  const reference = comparable.find((r) => votes.get(key(r)) === best);
  const nodes = reports.map((r): NodeConfigView => {
    const rep = r.report;
    const error = !r.live ? 'agent not connected' : !rep ? 'not reported yet' : rep.configDigest === '' ? rep.observeError || 'configuration not read' : '';
    let differs = '';
    if (error === '' && rep && reference?.report && key(r) !== key(reference)) {
      const files = differingFiles(rep.configFiles, reference.report.configFiles);
      const named = files.slice(0, MAX_FILES_NAMED).join(', ') + (files.length > MAX_FILES_NAMED ? ` and ${files.length - MAX_FILES_NAMED} more` : '');
      differs = `differs from ${reference.node}${named ? ` in ${named}` : ''}`;
    }
    return { node: r.node, configDigest: rep?.configDigest ?? '', filesDigest: rep?.filesDigest ?? '', files: rep?.configFiles ?? [], differs, error };
  });
  const differing = nodes.filter((n) => n.differs !== '');
  return {
    cluster,
    drift: differing.length > 0,
    message: differing.map((n) => `${n.node} ${n.differs}`).join('; '),
    nodes,
  };
}

/** The events of a drift that started, changed or ended since the last pass (`last`: its message then, '' for none). */
export function driftEvents(view: DriftView, last: string): EventInput[] {
  if (view.drift && view.message !== last) {
    return [{ type: 'config.drift', cluster: view.cluster, severity: 'warning', message: `proxy configuration of cluster ${view.cluster} differs between LB nodes: ${view.message}` }];
  }
  if (!view.drift && last !== '') {
    return [{ type: 'config.drift_resolved', cluster: view.cluster, message: `LB nodes of cluster ${view.cluster} run the same proxy configuration again` }];
  }
  return [];
}
