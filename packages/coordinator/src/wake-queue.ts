// When each cluster asked its next pass to run with no new input (a hold-down, a settle time, a
// handover window), in time order: the earliest, and the ones due, without a walk over every
// cluster that asked. At 10,000 agents after a burst of health flips thousands of clusters wait
// for a settle time each; finding the earliest, and the due ones each time the timer fired, by
// walking them all was most of what the reconcile loop allocated.

interface Queued {
  readonly at: number;
  readonly cluster: string;
}

export class WakeQueue {
  /** Per cluster: when it asked to run. */
  private readonly wakes = new Map<string, number>();
  /** A binary min-heap by time; an entry whose time is no longer the cluster's is skipped. */
  private readonly heap: Queued[] = [];
  /** Per cluster: the time of its entry in the heap that is still current. */
  private readonly queued = new Map<string, number>();

  get size(): number {
    return this.wakes.size;
  }

  /** The cluster asks to run at `at` (null: never, with no new input). */
  set(cluster: string, at: number | null): void {
    if (at === null) {
      this.wakes.delete(cluster);
      return;
    }
    this.wakes.set(cluster, at);
    if (this.queued.get(cluster) === at) return;
    this.queued.set(cluster, at);
    this.push({ at, cluster });
  }

  delete(cluster: string): void {
    this.wakes.delete(cluster);
  }

  /** The earliest time a cluster asked for; null when none did. */
  next(): number | null {
    this.dropStale();
    return this.heap[0]?.at ?? null;
  }

  /** The clusters whose time is at most `t`, earliest first; they are no longer waiting. */
  takeDue(t: number): string[] {
    const due: string[] = [];
    for (;;) {
      this.dropStale();
      const top = this.heap[0];
      if (top === undefined || top.at > t) return due;
      this.pop();
      this.queued.delete(top.cluster);
      this.wakes.delete(top.cluster);
      due.push(top.cluster);
    }
  }

  /** The clusters' names, for forgetting the ones a new spec dropped. */
  clusters(): IterableIterator<string> {
    return this.wakes.keys();
  }

  private dropStale(): void {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || this.wakes.get(top.cluster) === top.at) return;
      this.pop();
      if (this.queued.get(top.cluster) === top.at) this.queued.delete(top.cluster);
    }
  }

  private push(e: Queued): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent] as Queued;
      if (p.at <= e.at) break;
      h[i] = p;
      i = parent;
    }
    h[i] = e;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const child = r < h.length && (h[r] as Queued).at < (h[l] as Queued).at ? r : l;
      if ((h[child] as Queued).at >= last.at) break;
      h[i] = h[child] as Queued;
      i = child;
    }
    h[i] = last;
  }
}
