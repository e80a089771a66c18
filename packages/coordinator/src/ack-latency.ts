// How long each agent takes to answer: from a desired state's push to the agent's acknowledgement
// of it (both ways over the stream, the agent's event loop and its apply). The timing budgets that
// wait on an agent (another node's report in shared-failure.ts, a handover's prepare in
// handover-plan.ts) follow it, bounded, instead of assuming the round trips of an idle machine:
// on a loaded node an agent answers in hundreds of milliseconds, not tens.

/** Round trips remembered per node; the budgets take the longest of them. */
const SAMPLES = 8;
/** Pushes awaiting their acknowledgement per node; older ones are dropped. */
const PENDING = 8;

/** A budget that follows the slowest of `latencies`: at least `floorMs`, `factor` x it, at most `capMs`. */
export function followLatency(latencies: ReadonlyArray<number | undefined>, floorMs: number, factor: number, capMs: number): number {
  const slowest = Math.max(0, ...latencies.filter((l): l is number => l !== undefined));
  return Math.min(capMs, Math.max(floorMs, Math.ceil(factor * slowest)));
}

export class AckLatency {
  private readonly pending = new Map<string, Array<{ readonly version: number; readonly atMs: number }>>();
  private readonly samples = new Map<string, number[]>();

  /** A desired state of `version` was sent to `node` at `atMs`. */
  pushed(node: string, version: number, atMs: number): void {
    let p = this.pending.get(node);
    if (!p) this.pending.set(node, (p = []));
    p.push({ version, atMs });
    if (p.length > PENDING) p.shift();
  }

  /** `node` acknowledged `version` at `atMs` (accepted or not: either way it answered). */
  acked(node: string, version: number, atMs: number): void {
    const p = this.pending.get(node);
    if (!p) return;
    const push = p.find((x) => x.version === version);
    const rest = p.filter((x) => x.version > version);
    if (rest.length > 0) this.pending.set(node, rest);
    else this.pending.delete(node);
    if (push === undefined) return;
    let s = this.samples.get(node);
    if (!s) this.samples.set(node, (s = []));
    s.push(Math.max(0, atMs - push.atMs));
    if (s.length > SAMPLES) s.shift();
  }

  /** The longest of the node's recent round trips; undefined before the first. */
  recentMs(node: string): number | undefined {
    const s = this.samples.get(node);
    return s === undefined || s.length === 0 ? undefined : Math.max(...s);
  }

  /** The node's session ended: its pushes will not be acknowledged (its round trips stay). */
  dropPending(node: string): void {
    this.pending.delete(node);
  }

  /** The node left the spec. */
  forget(node: string): void {
    this.pending.delete(node);
    this.samples.delete(node);
  }
}
