import { HEALTHY, unhealthy, type CheckResult } from '@lbha/shared';
import { openProbeSocket } from './probe-socket.js';
import type { Probe } from './probe.js';

/** Healthy when a TCP connection to host:port is accepted; the connection is closed at once. */
export function tcpProbe(host: string, port: number): Probe {
  return {
    probe(signal: AbortSignal): Promise<CheckResult> {
      return new Promise((resolve) => {
        let settled = false;
        const finish = (r: CheckResult): void => {
          if (settled) return;
          settled = true;
          signal.removeEventListener('abort', onAbort);
          sock.destroy();
          resolve(r);
        };
        // The runner reports the timeout itself; settle so nothing is left pending.
        const onAbort = (): void => finish(unhealthy(`connect ${host}:${port}: aborted`));
        const sock = openProbeSocket(host, port, {
          connect: () => finish(HEALTHY),
          data: () => {},
          end: () => {},
          error: (code) => finish(unhealthy(`connect ${host}:${port}: ${code}`)),
        });
        signal.addEventListener('abort', onAbort, { once: true });
      });
    },
  };
}
