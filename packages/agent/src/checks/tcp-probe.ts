import { connect } from 'node:net';
import { HEALTHY, unhealthy, type CheckResult } from '@lbha/shared';
import type { Probe } from './probe.js';

/** Healthy when a TCP connection to host:port is accepted; the connection is closed at once. */
export function tcpProbe(host: string, port: number): Probe {
  return {
    probe(signal: AbortSignal): Promise<CheckResult> {
      return new Promise((resolve) => {
        const sock = connect({ host, port });
        const onAbort = (): void => {
          sock.destroy();
          // The runner reports the timeout itself; settle so nothing is left pending.
          resolve(unhealthy(`connect ${host}:${port}: aborted`));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        sock.once('connect', () => {
          signal.removeEventListener('abort', onAbort);
          sock.destroy();
          resolve(HEALTHY);
        });
        sock.once('error', (err: NodeJS.ErrnoException) => {
          signal.removeEventListener('abort', onAbort);
          resolve(unhealthy(`connect ${host}:${port}: ${err.code ?? err.message}`));
        });
      });
    },
  };
}
