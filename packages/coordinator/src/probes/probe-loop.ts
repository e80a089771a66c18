// Fresh-connection probes of one address: one every intervalMs (not waiting for the previous
// one, so a stalled connection does not slow the count), each on its own TCP connection with
// a timeout. HTTP: a GET with `Connection: close`, any status below 500 counts as an answer;
// TCP: an established connection does.
import { request } from 'node:http';
import { connect } from 'node:net';
import type { ProbeResult } from '../operations/drill-figures.js';
import type { ProbeSettings } from './vip-prober.js';

function once(address: string, s: ProbeSettings, clock: () => number): Promise<ProbeResult> {
  const startMs = clock();
  return new Promise((resolve) => {
    let done = false;
    const end = (ok: boolean, error: string, destroy: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      destroy();
      resolve({ startMs, ms: clock() - startMs, ok, error });
    };
    let destroy: () => void = () => undefined;
    const timer = setTimeout(() => end(false, 'timeout', destroy), s.timeoutMs);
    if (s.mode === 'tcp') {
      const sock = connect({ host: address, port: s.port });
      destroy = () => sock.destroy();
      sock.once('connect', () => end(true, '', destroy));
      sock.once('error', (e: NodeJS.ErrnoException) => end(false, e.code ?? e.message, destroy));
      return;
    }
    const req = request({ host: address, port: s.port, path: s.path, method: 'GET', agent: false, headers: { host: s.host || address, connection: 'close', 'user-agent': 'lbha-drill' } }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      res.once('end', () => end(status < 500, status < 500 ? '' : `HTTP ${status}`, destroy));
      res.once('error', (e: NodeJS.ErrnoException) => end(false, e.code ?? e.message, destroy));
    });
    destroy = () => req.destroy();
    req.once('error', (e: NodeJS.ErrnoException) => end(false, e.code ?? e.message, destroy));
    req.end();
  });
}

export interface ProbeLoop {
  /** Stops sending and resolves once the probes in flight have ended. */
  stop(): Promise<void>;
}

/** Probes until stopped; `onResult` sees each probe as it ends. */
export function startProbeLoop(address: string, s: ProbeSettings, onResult: (r: ProbeResult) => void, clock: () => number = Date.now): ProbeLoop {
  const inFlight = new Set<Promise<void>>();
  const fire = () => {
    const p: Promise<void> = once(address, s, clock).then((r) => {
      inFlight.delete(p);
      onResult(r);
    });
    inFlight.add(p);
  };
  fire();
  const timer = setInterval(fire, s.intervalMs);
  return {
    stop: async () => {
      clearInterval(timer);
      await Promise.all([...inFlight]);
    },
  };
}
