// TLS handshakes in progress, bounded: accepted connections wait in arrival order and at most
// `limit` handshakes run at once. After a coordinator restart the whole fleet connects within
// a second or two; started all at once, every handshake advances one step per turn of the event
// loop, so none completes until nearly all are done and nothing registers for tens of seconds.
// Bounded, the same work becomes a steady flow of registrations from the first second.
//
// A slot is taken when a handshake starts and given back exactly once: when it completes, fails,
// or its connection closes (the caller's `done`), or after `slotMs` at the latest, so that a
// client that connects and sends nothing (or a handshake that never reports back) cannot hold
// a slot for long. "At the latest" is at the end of the event-loop turn in which `slotMs` ran
// out, after that turn's I/O: on a core the storm saturates, one turn (a few hundred handshakes
// each taking a step) can itself last longer than `slotMs`, and a slot given back at the start
// of the next turn, before the client's answer waiting in the kernel is read, lets another
// handshake start for every one that was about to finish. Turn after turn, every connection of
// the storm was then in handshake at once, and none finished for tens of seconds.
//
// `slotMs` counts the event loop's idle time, not the clock's: the time in which this process
// had nothing to run and waited for its clients. A client that connects and sends nothing holds
// its slot `slotMs` on an idle coordinator, as before; a handshake that is slow because this
// process is (a storm of handshakes on a core it shares with other processes: three
// coordinators on one core got a third of it each, and 256 handshakes then took more than 2 s of
// the clock to finish) keeps its slot until it ends, so the bound holds when it matters most.
// Timed by the clock, each of those slots ran out and started one more handshake, and the
// handshakes in progress grew to every connection of the fleet: each then took longer than the
// handshake timeout (20 s) and failed, the agents reconnected, and no agent registered for
// minutes. Waiting for the core is not idle time; waiting for a client is.
//
// A handshake whose slot ran out goes on, and at most `limit` of them at once: with those
// running, a slot that runs out is kept until its handshake ends or one of them does. Slow
// clients are not always idle ones: 10,000 agents simulated on one shared core were slow to
// answer because each had hundreds of handshakes in progress, every slot given back started one
// more, and the handshakes in progress grew until each took longer than the timeout, the same
// collapse. So at most twice `limit` handshakes are in progress, whatever the clients do; a
// client that sends nothing costs a slot for `slotMs`, then a place beside the slots until the
// handshake timeout.

/** What the queue holds: a connection that may have gone while it waited. */
export interface QueuedConnection {
  readonly destroyed: boolean;
  destroy(): void;
}

export interface HandshakeQueueStats {
  /** Handshakes running now. */
  readonly inFlight: number;
  /** Connections waiting for a slot. */
  readonly queued: number;
  /** Handshakes started so far. */
  readonly started: number;
  /** Slots given back by the timer, not by the handshake. */
  readonly slotsTimedOut: number;
}

export interface HandshakeQueueOptions<C extends QueuedConnection> {
  /** Handshakes in progress at most. */
  readonly limit: number;
  /** A slot is given back after this long even if its handshake has not reported. */
  readonly slotMs: number;
  /** Starts the handshake of `connection`; calls `done` when it completes, fails or the connection closes (more than once is fine). */
  readonly start: (connection: C, done: () => void) => void;
  readonly setTimer?: (fn: () => void, ms: number) => unknown;
  readonly clearTimer?: (timer: unknown) => void;
  /** Runs `fn` after the I/O of the current event-loop turn (default: setImmediate). */
  readonly afterIo?: (fn: () => void) => void;
  /** The event loop's idle time so far, ms (default: performance.eventLoopUtilization().idle); slotMs counts it. */
  readonly idleMs?: () => number;
}

export class HandshakeQueue<C extends QueuedConnection> {
  /** Waiting connections from `head` on (a FIFO without O(n) shifts). */
  private waiting: Array<C | undefined> = [];
  private head = 0;
  private running = 0;
  private startedCount = 0;
  private timedOut = 0;
  /** Handshakes whose slot ran out and which go on (at most `limit`). */
  private overtime = 0;
  private closed = false;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (timer: unknown) => void;
  private readonly afterIo: (fn: () => void) => void;
  private readonly idleMs: () => number;

  constructor(private readonly opts: HandshakeQueueOptions<C>) {
    if (!Number.isInteger(opts.limit) || opts.limit < 1) throw new RangeError(`handshake limit must be a positive integer, not ${opts.limit}`);
    this.setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms).unref());
    this.clearTimer = opts.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout));
    this.afterIo = opts.afterIo ?? ((fn) => void setImmediate(fn));
    this.idleMs = opts.idleMs ?? (() => performance.eventLoopUtilization().idle);
  }

  /** Queues `connection`; its handshake starts at once when a slot is free. */
  push(connection: C): void {
    if (this.closed) {
      connection.destroy();
      return;
    }
    this.waiting.push(connection);
    this.pump();
  }

  /** Destroys every waiting connection and starts no more (running handshakes are left to their owner). */
  close(): void {
    this.closed = true;
    for (let i = this.head; i < this.waiting.length; i++) this.waiting[i]?.destroy();
    this.waiting = [];
    this.head = 0;
  }

  stats(): HandshakeQueueStats {
    return { inFlight: this.running, queued: this.waiting.length - this.head, started: this.startedCount, slotsTimedOut: this.timedOut };
  }

  private pump(): void {
    while (this.running < this.opts.limit && this.head < this.waiting.length) {
      const next = this.waiting[this.head] as C;
      this.waiting[this.head++] = undefined;
      if (this.head > 1024 && this.head * 2 > this.waiting.length) {
        this.waiting = this.waiting.slice(this.head);
        this.head = 0;
      }
      // Gone while it waited (its peer gave up, or it was refused): no handshake to run.
      if (next.destroyed) continue;
      this.begin(next);
    }
  }

  private begin(connection: C): void {
    this.running++;
    this.startedCount++;
    /** slot: it holds one; overtime: its slot ran out and it goes on; ended. */
    let state: 'slot' | 'overtime' | 'ended' = 'slot';
    const ended = () => {
      if (state === 'ended') return;
      if (state === 'slot') {
        this.clearTimer(timer);
        this.running--;
      } else this.overtime--;
      state = 'ended';
      this.pump();
    };
    // The slot runs out once the loop has been idle for slotMs since the handshake began (see
    // the header), and only after this turn's I/O: a handshake whose client has answered
    // finishes in it (and gives its slot back itself). Until then, or while `limit` handshakes
    // are in overtime, the timer is set again.
    const idleAtStart = this.idleMs();
    const check = () =>
      this.afterIo(() => {
        if (state !== 'slot') return;
        const idle = this.idleMs() - idleAtStart;
        if (idle < this.opts.slotMs) timer = this.setTimer(check, this.opts.slotMs - idle);
        else if (this.overtime >= this.opts.limit) timer = this.setTimer(check, this.opts.slotMs);
        else {
          state = 'overtime';
          this.timedOut++;
          this.overtime++;
          this.running--;
          this.pump();
        }
      });
    let timer = this.setTimer(check, this.opts.slotMs);
    try {
      this.opts.start(connection, ended);
    } catch (err) {
      ended();
      connection.destroy();
      throw err;
    }
  }
}
