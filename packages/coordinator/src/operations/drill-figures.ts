// What a drill's probes saw, reduced to its figures, and the verdict on them: pure. A phase is
// one move (to the standby, or back home) with the probes sent while it ran; a VIP passes when
// both of its phases were measured whole, no probe failed, and the VIP answered after each move
// and ended on its home. docs/design/drill.md.
import { decodePlan } from './drill-plan.js';

/** One probe as the coordinator saw it: when it started (coordinator clock), how long it took, and how it ended. */
export interface ProbeResult {
  readonly startMs: number;
  readonly ms: number;
  readonly ok: boolean;
  /** Why it failed ('' when ok): "timeout", "ECONNREFUSED", "HTTP 502"... */
  readonly error: string;
}

export interface PhaseFigures {
  readonly sent: number;
  readonly failed: number;
  /** Longest time within the phase without a successful answer (phase start and end count as bounds). */
  readonly longestGapMs: number;
  /** From the phase's start to the first successful answer to a probe sent after the VIP reached its node; null when there was none. */
  readonly answeredMs: number | null;
  /** The first failure, for the record ('' when none). */
  readonly firstError: string;
  /** False when a coordinator restart cut the phase short: its probes are not all counted. */
  readonly complete: boolean;
}

export interface PhaseWindow {
  readonly startMs: number;
  /** When the coordinator saw the VIP on its node; null when it never got there. */
  readonly arrivedMs: number | null;
  readonly endMs: number;
}

export function phaseFigures(results: readonly ProbeResult[], w: PhaseWindow, complete = true): PhaseFigures {
  const ok = results.filter((r) => r.ok);
  const failed = results.filter((r) => !r.ok);
  const answers = ok.map((r) => r.startMs + r.ms).filter((t) => t >= w.startMs && t <= w.endMs).sort((a, b) => a - b);
  let longest = 0;
  let last = w.startMs;
  for (const t of [...answers, w.endMs]) {
    longest = Math.max(longest, t - last);
    last = t;
  }
  const after = w.arrivedMs === null ? [] : ok.filter((r) => r.startMs >= (w.arrivedMs as number)).map((r) => r.startMs + r.ms);
  return {
    sent: results.length,
    failed: failed.length,
    longestGapMs: Math.round(longest),
    answeredMs: after.length > 0 ? Math.round(Math.min(...after) - w.startMs) : null,
    firstError: failed[0]?.error ?? '',
    complete,
  };
}

/** A phase that did not run at all: the coordinator restarted before it ended, or the VIP could not be moved. */
export const UNMEASURED: PhaseFigures = Object.freeze({ sent: 0, failed: 0, longestGapMs: 0, answeredMs: null, firstError: '', complete: false });

/** One VIP's drill as recorded. */
export interface VipDrillResult {
  readonly vip: string;
  readonly home: string;
  readonly standby: string;
  readonly to: PhaseFigures;
  readonly back: PhaseFigures;
  /** Why a move did not happen ('' when both did). */
  readonly error: string;
  /** The node that held the VIP when its drill ended. */
  readonly endedOn: string;
}

export type VipVerdict = { readonly kind: 'passed' } | { readonly kind: 'failed'; readonly why: readonly string[] };

export function judgeVip(r: VipDrillResult): VipVerdict {
  const why: string[] = [];
  if (r.error) why.push(r.error);
  for (const [name, f] of [['to the standby', r.to], ['back home', r.back]] as const) {
    if (f.failed > 0) why.push(`${f.failed} of ${f.sent} probes failed during the move ${name} (${f.firstError})`);
    if (!f.complete) why.push(`the move ${name} was not measured whole (a coordinator restart)`);
    else if (f.sent === 0) why.push(`no probe was sent during the move ${name}`);
    else if (f.answeredMs === null) why.push(`the VIP did not answer after the move ${name}`);
  }
  if (r.endedOn !== r.home) why.push(`${r.vip} ended on ${r.endedOn || 'no node'}, not on ${r.home}`);
  return why.length === 0 ? { kind: 'passed' } : { kind: 'failed', why };
}

function ms(v: number): string {
  return v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v} ms`;
}

export function describePhase(f: PhaseFigures, node: string): string {
  if (!f.complete && f.sent === 0) return 'not measured';
  const answered = f.answeredMs === null ? `no answer from ${node}` : `answered on ${node} after ${ms(f.answeredMs)}`;
  return `${f.sent} probes, ${f.failed} failed, longest gap ${ms(f.longestGapMs)}, ${answered}${f.complete ? '' : ' (partly measured)'}`;
}

/** "vip1 passed: to lb2: 212 probes, 0 failed, ...; back to lb1: ...". */
export function describeVip(r: VipDrillResult): string {
  const v = judgeVip(r);
  const figures = `to ${r.standby}: ${describePhase(r.to, r.standby)}; back to ${r.home}: ${describePhase(r.back, r.home)}`;
  return v.kind === 'passed' ? `${r.vip} passed: ${figures}` : `${r.vip} failed (${v.why.join('; ')}): ${figures}`;
}

/** The results a drill's record holds so far, in the order of its plan. */
export function drillResultsOf(data: Readonly<Record<string, string>>): VipDrillResult[] {
  return decodePlan(data['plan'] ?? '').flatMap((l) => {
    const text = data[`${l.vip}/result`];
    return text === undefined ? [] : [JSON.parse(text) as VipDrillResult];
  });
}
