// A failure every node shares (docs/design/vrrp-edges.md): when no active node of a cluster is
// healthy, moving a VIP helps nobody and removing it hurts everybody, so each failing node stays
// a candidate of last resort (DesiredState.lastResort) and keepalived keeps every VIP on its best
// node. Which checks fail everywhere is reported.
//
// A node whose check a shared cause can fail holds that fault back until it is told whose
// failure it is. It is the node's own (DesiredState.ownFailureSinceMs) once each other active node
// has either reported (healthy) for as long as its own checks need to fail after the same cause
// (fall x interval + timeout, from the moment the failure was seen here, plus the time its report
// takes to arrive: the longest of its agent's recent push-to-acknowledgement round trips, at least
// REPORT_MARGIN_MS and at most MAX_REPORT_MARGIN_MS), or is not reporting at all (it may serve:
// the fault takes effect at once). A report of the other nodes failing decides the other way as
// soon as it arrives. Until then the failure is `held`: placement does not move the node's VIPs
// for it either.
//
// The way out is the same wait the other way round. When a node of a cluster whose active nodes
// all failed is seen healthy again, the nodes still failing the checks that failed everywhere
// keep their VIPs and stay candidates of last resort (`recovering`) for as long as their own
// checks need to pass after the same cause went away (rise x interval + timeout, from the moment
// the first recovery was seen here, plus the time their report takes, as above). Their report of
// passing ends it with nothing moved; at the end of that time a node still failing has a failure
// of its own, decided at once, and its VIPs move. That time includes how much later one node's
// proxy may send to the backends again than another's (readmitMsOf): a check through the proxy
// cannot pass before the proxy forwards. For nginx when lbha renders its upstreams, from the
// servers' fail_timeout (proxyReadmitMs); for haproxy, from its checks as the node's agent reads
// them (BackendReport.readmitMs).
// A node that stops reporting is not waited for.
// A node that stays failing sends no new report (agents report changes), so the coordinator
// cannot tell "still failing" from "not passing yet" before that time is up. Pure: the clock is
// `now`.
import type { CheckKind, NodeMode } from '@lbha/shared';
import { followLatency } from './ack-latency.js';
import type { EventInput } from './event-log.js';
import type { NodeObservation } from './node-observation.js';
import type { ClusterSpec } from './spec/cluster-spec.js';

/** A node's failure as first seen here: its latest failing fault check's start (its clock), when (ours). */
export interface FailureSeen {
  readonly sinceMs: number;
  readonly atMs: number;
}

/** A cluster leaving a failure all its active nodes shared: when the first node was seen passing again, and the checks. */
export interface SharedRecovery {
  readonly atMs: number;
  readonly checks: readonly string[];
  /** The nodes still given the time to pass again at the last pass. */
  readonly waiting: ReadonlySet<string>;
}

/** How late another node's failure report may arrive after its checks could have failed, at least. */
export const REPORT_MARGIN_MS = 300;
/** ... and at most, however slowly its agent has answered (the agent waits 5 s for a verdict). */
export const MAX_REPORT_MARGIN_MS = 2_000;
/** What the proxies' readmission of the backends adds to the way out's wait, at most (proxyReadmitMs, readmitMsOf). */
export const MAX_READMIT_MS = 2_000;
/** Checks whose failure one shared cause (the backends) can bring to every node: the agent holds them (agent core/fault-mode.ts). */
const SHAREABLE: ReadonlySet<CheckKind> = new Set(['http', 'tcp']);

/** How late the report of a node whose agent answered in `latencyMs` lately may arrive. */
export function reportMarginMs(latencies: ReadonlyArray<number | undefined>): number {
  return followLatency(latencies, REPORT_MARGIN_MS, 1, MAX_REPORT_MARGIN_MS);
}

const NO_OWN: ReadonlyMap<string, number> = new Map();
const NO_SEEN: ReadonlyMap<string, FailureSeen> = new Map();
const NO_NODES: ReadonlySet<string> = new Set();

export interface SharedFailure {
  /** Nodes every other active node of which reports unhealthy (all of them reporting). */
  readonly lastResort: ReadonlySet<string>;
  /** Fault checks failing on every active node, when no active node is healthy; sorted. */
  readonly failingEverywhere: readonly string[];
  readonly events: readonly EventInput[];
  /** Per failing node whose failure is its own: the start of its latest failing fault check (its clock). */
  readonly own: ReadonlyMap<string, number>;
  /** Per failing node: its failure as first seen (memory for the next pass). */
  readonly seen: ReadonlyMap<string, FailureSeen>;
  /**
   * Failing nodes whose failure waits for the other nodes' reports, of checks the agent holds
   * back meanwhile (http, tcp): placement counts them as they were, or it would move their VIPs
   * away before anyone knows whether another node would serve them any better.
   */
  readonly held: ReadonlySet<string>;
  /**
   * Failing nodes of a cluster leaving a shared failure that have not had the time to pass again
   * (they are in `lastResort` too): placement keeps their VIPs on them and gives them no other.
   */
  readonly recovering: ReadonlySet<string>;
  /** The shared failure being left (memory for the next pass); undefined when there is none. */
  readonly recovery: SharedRecovery | undefined;
  /** When an undecided failure becomes the node's own unless a report comes first. */
  readonly wakeAt: number | null;
}

/** nginx's fail_timeout when a server line sets none. */
export const NGINX_DEFAULT_FAIL_TIMEOUT_MS = 10_000;

/**
 * How much later one node's proxy may send to the backends again than another's, after they all
 * failed: nginx sends to a server that failed (max_fails times; nginx's default is once) again
 * with the first request once its clock, in whole seconds, is fail_timeout past the last failure,
 * so up to fail_timeout + 1 s after it, whenever the server answered again; a server with
 * max_fails=0 is never marked failed and costs nothing. Known only for the pools whose server
 * lines lbha renders (nginx; haproxy's checks are in its own configuration: readmitMsOf): the longest
 * fail_timeout + 1 s of the servers that can be marked failed, and MAX_READMIT_MS at most. The
 * cap: the node that passed first waits for the coordinator's word 5 s past its own checks' rise
 * (agent core/fault-mode.ts), the report margin may take 2 s of that, and the wait must end
 * before that agent stops waiting. In a failure every node shared, the proxies failed at the same
 * moments and send again in the same second; the cap covers a node whose proxy failed a little
 * longer with fail_timeout 1s (the recommended value) in full. A longer fail_timeout keeps every
 * client on 502 for longer than the wait allows for (spec-warnings.ts says so when a spec is
 * applied).
 */
export function proxyReadmitMs(c: ClusterSpec): number {
  if (c.service !== 'nginx') return 0;
  let ms = 0;
  for (const p of c.backends.pools) {
    for (const s of p.servers) {
      if (s.maxFails === 0) continue;
      ms = Math.max(ms, (s.failTimeoutMs ?? NGINX_DEFAULT_FAIL_TIMEOUT_MS) + 1_000);
    }
  }
  return Math.min(ms, MAX_READMIT_MS);
}

/** What the proxy's readmission adds to the way out's wait for one node, and what it would take uncapped. */
export interface Readmission {
  readonly ms: number;
  /** "nginx's fail_timeout", "haproxy's checks". */
  readonly what: string;
  /** What the proxy may take in full; more than `ms` when the cap cut it. */
  readonly fullMs: number;
}

const NO_READMISSION: Readmission = { ms: 0, what: '', fullMs: 0 };

/**
 * The readmission a node still failing is given on the way out. nginx: the spec's server lines
 * (proxyReadmitMs), the same for every node. haproxy: its checks are in its own configuration,
 * which the node's agent reads (BackendReport.readmitMs: the longest downinter + (rise - 1) x
 * fastinter of the servers its haproxy checks). This node's haproxy sends to a server it marked
 * DOWN again at most that long after the server answers, on its own check phase, so that is how
 * much later than the node that passed it may forward. MAX_READMIT_MS at most, for the reason
 * given at proxyReadmitMs. An agent that reports none (an older one, or one without a stats
 * socket) is given nothing, as before.
 */
export function readmitMsOf(c: ClusterSpec, o: NodeObservation | undefined, nginxMs: number): Readmission {
  if (c.service === 'nginx') return nginxMs > 0 ? { ms: nginxMs, what: "nginx's fail_timeout", fullMs: nginxMs } : NO_READMISSION;
  const fullMs = o?.snapshot?.backends?.readmitMs ?? 0;
  return fullMs > 0 ? { ms: Math.min(fullMs, MAX_READMIT_MS), what: "haproxy's checks", fullMs } : NO_READMISSION;
}

/** The wait's readmission, as check.recovery_wait says it. */
function readmissionNote(r: Readmission): string {
  if (r.ms === 0) return '';
  const cut = r.fullMs > r.ms ? `, which may take ${r.fullMs} ms: the wait allows ${MAX_READMIT_MS} ms at most` : '';
  return ` (${r.ms} ms of it for ${r.what}${cut})`;
}

/** The time the cluster's checks named `checks` need to fail (or, `rise`, pass again) on a node after a shared cause. */
function detectMs(c: ClusterSpec, checks: readonly string[], marginMs: number, turn: 'fall' | 'rise' = 'fall'): number {
  let ms = 0;
  for (const name of checks) {
    const s = c.checks.find((x) => x.name === name);
    // A check the spec does not know (renamed meanwhile): the agents' longest hold.
    ms = Math.max(ms, s ? s[turn] * s.intervalMs + s.timeoutMs : 2_000);
  }
  return ms + marginMs;
}

function failingFaults(o: NodeObservation): NonNullable<NodeObservation['snapshot']>['checks'] {
  return (o.snapshot?.checks ?? []).filter((c) => c.effect === 'fault' && c.result.kind !== 'healthy');
}

/** A node's failing fault checks, from its report. */
function failingChecks(o: NodeObservation): string[] {
  return failingFaults(o).map((c) => c.name);
}

/**
 * `reporting` gives the observation of a live agent that has reported (else undefined); a node
 * whose agent is not reporting may be serving, so it counts as possibly healthy.
 */
export function sharedFailure(
  c: ClusterSpec,
  modeOf: (node: string) => NodeMode,
  reporting: (node: string) => NodeObservation | undefined,
  before: readonly string[],
  seenBefore: ReadonlyMap<string, FailureSeen> = new Map(),
  now = 0,
  recoveryBefore: SharedRecovery | undefined = undefined,
): SharedFailure {
  const active = c.nodes.map((n) => n.name).filter((n) => modeOf(n) === 'active');
  const unhealthy = new Map<string, string[]>();
  for (const n of active) {
    const o = reporting(n);
    if (o?.snapshot && !o.snapshot.healthy) unhealthy.set(n, failingChecks(o));
  }
  const lastResort = new Set<string>();
  for (const n of active) if (active.every((m) => m === n || unhealthy.has(m))) lastResort.add(n);
  const everyone = active.length > 0 && active.every((n) => unhealthy.has(n));
  const lists = [...unhealthy.values()];
  const failingEverywhere = everyone ? [...new Set(lists.flat())].filter((check) => lists.every((l) => l.includes(check))).sort() : [];
  const events: EventInput[] = [];
  const added = failingEverywhere.filter((x) => !before.includes(x));
  const cleared = before.filter((x) => !failingEverywhere.includes(x));
  if (added.length > 0) {
    const nodes = active.join(', ');
    events.push({
      type: 'check.failing_everywhere',
      cluster: c.name,
      severity: 'critical',
      message: `check${added.length > 1 ? 's' : ''} ${added.join(', ')} fail${added.length > 1 ? '' : 's'} on every active node (${nodes}): a shared cause; the VIPs stay on their nodes, which answer what they can`,
      reason: [...unhealthy].map(([n, l]) => `${n}: ${l.join(', ')}`).join('; '),
    });
  }
  if (cleared.length > 0) {
    events.push({ type: 'check.failing_everywhere_cleared', cluster: c.name, message: `check${cleared.length > 1 ? 's' : ''} ${cleared.join(', ')} no longer fail${cleared.length > 1 ? '' : 's'} on every active node` });
  }
  // Built only for a failing node: most passes see none, and share these empty ones.
  let own: Map<string, number> | undefined;
  let seen: Map<string, FailureSeen> | undefined;
  let held: Set<string> | undefined;
  let recovering: Set<string> | undefined;
  let wakeAt: number | null = null;
  const nginxReadmitMs = proxyReadmitMs(c);
  // Leaving a shared failure: some active node reports passing again.
  const passing = active.filter((n) => !unhealthy.has(n) && reporting(n) !== undefined);
  const leaving = everyone || passing.length === 0 ? undefined : before.length > 0 ? { atMs: now, checks: before, waiting: new Set<string>() } : recoveryBefore;
  for (const [n, checks] of unhealthy) {
    const o = reporting(n);
    const sinceMs = Math.max(0, ...(o?.snapshot?.checks ?? []).filter((x) => checks.includes(x.name)).map((x) => x.sinceMs));
    const was = seenBefore.get(n);
    const s = was !== undefined && was.sinceMs === sinceMs ? was : { sinceMs, atMs: now };
    (seen ??= new Map()).set(n, s);
    if (lastResort.has(n)) continue;
    // Failing only checks that failed everywhere, since before the first node passed again: it
    // may pass a moment later for the same reason, so it keeps its VIPs until it has had the time.
    if (leaving !== undefined && s.atMs <= leaving.atMs && checks.every((x) => leaving.checks.includes(x))) {
      const readmit = readmitMsOf(c, o, nginxReadmitMs);
      const passBy = leaving.atMs + readmit.ms + detectMs(c, checks, reportMarginMs([o?.ackLatencyMs]), 'rise');
      if (now < passBy) {
        (recovering ??= new Set()).add(n);
        lastResort.add(n);
        wakeAt = wakeAt === null ? passBy : Math.min(wakeAt, passBy);
        if (!leaving.waiting.has(n)) {
          events.push({
            type: 'check.recovery_wait',
            cluster: c.name,
            node: n,
            message: `${passing.join(', ')} pass${passing.length > 1 ? '' : 'es'} again; ${n} still fails ${checks.join(', ')}: it keeps its VIPs for up to ${passBy - now} ms, the time its checks need to pass after the same cause${readmissionNote(readmit)}`,
          });
        }
        continue;
      }
      if (leaving.waiting.has(n)) {
        events.push({
          type: 'check.recovery_over',
          cluster: c.name,
          node: n,
          severity: 'warning',
          message: `${n} still fails ${checks.join(', ')} ${now - leaving.atMs} ms after ${passing.join(', ')} passed again: its own failure; its VIPs move`,
        });
      }
    }
    // Healthy and reporting: their checks may not have failed yet. Not reporting: nothing to wait for.
    const waitingFor = active.filter((m) => m !== n && !unhealthy.has(m) && reporting(m) !== undefined);
    const margin = reportMarginMs(waitingFor.map((m) => reporting(m)?.ackLatencyMs));
    const decideAt = waitingFor.length === 0 ? s.atMs : s.atMs + detectMs(c, checks, margin);
    if (now >= decideAt) {
      (own ??= new Map()).set(n, sinceMs);
      continue;
    }
    wakeAt = wakeAt === null ? decideAt : Math.min(wakeAt, decideAt);
    if (o !== undefined && failingFaults(o).every((x) => SHAREABLE.has(x.kind))) (held ??= new Set()).add(n);
  }
  const recovery = leaving !== undefined && recovering !== undefined ? { atMs: leaving.atMs, checks: leaving.checks, waiting: recovering } : undefined;
  return { lastResort, failingEverywhere, events, own: own ?? NO_OWN, seen: seen ?? NO_SEEN, held: held ?? NO_NODES, recovering: recovering ?? NO_NODES, recovery, wakeAt };
}
