// A periodic task that runs only after the coordinator has read what arrived meanwhile.
//
// Node runs due timers before it polls sockets. After the coordinator was held up (a long
// piece of work, or, on a loaded host, seconds of waiting for its core), a sweep run straight
// from its timer judged every agent by heartbeats that were already in its sockets but not yet
// read, marked thousands of live agents stale at once, and set off a pass over their clusters,
// events, metrics and logs for each, only to find them fresh a moment later. Run from
// setImmediate, the task comes after the poll phase of the same turn of the loop.

export interface AfterIoInterval {
  stop(): void;
}

/** Runs `task` every `intervalMs`, each time after the I/O that was ready when its timer fired. */
export function afterIoInterval(task: () => void, intervalMs: number): AfterIoInterval {
  let immediate: NodeJS.Immediate | undefined;
  const timer = setInterval(() => {
    if (immediate) return; // the previous run has not happened yet
    immediate = setImmediate(() => {
      immediate = undefined;
      task();
    });
  }, intervalMs);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      if (immediate) clearImmediate(immediate);
      immediate = undefined;
    },
  };
}
