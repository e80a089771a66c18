// One request through the node's own proxy for a VIP it may receive: a fresh TCP connection to
// the address the proxy listens on (loopback by default: a wildcard listener answers there on a
// node that does not hold the VIP), and for HTTP one HTTP/1.0 GET with the VIP's Host, of which
// only the status line is read. The connection is the HTTP check's (checks/probe-socket.ts):
// node's TCP handle for an IP address, a net.Socket for a name; the request is the same bytes
// either way.
import type { ReadinessProbe } from '@lbha/shared';
import { openProbeSocket } from '../checks/probe-socket.js';
import type { ProxyAnswer } from './readiness-verdict.js';

const STATUS_LINE = /^HTTP\/\d(?:\.\d)? (\d{3})/;

/** What `p` names as its target, for reasons: "GET http://127.0.0.1:80/ (Host www.example.com)". */
export function targetOf(p: ReadinessProbe): string {
  const addr = p.connect.includes(':') ? `[${p.connect}]` : p.connect;
  return p.kind === 'tcp' ? `connect ${addr}:${p.port}` : `GET http://${addr}:${p.port}${p.path} (Host ${p.host})`;
}

/**
 * Sends the probe's request; settles within `p.timeoutMs` or when `signal` aborts. `kind` picks
 * the connection's implementation (tests run both).
 */
export function proxyRequest(p: ReadinessProbe, signal: AbortSignal, kind?: 'handle' | 'net'): Promise<ProxyAnswer> {
  return new Promise((resolve) => {
    let settled = false;
    let received = '';
    const onAbort = (): void => settle({ kind: 'failed', error: 'aborted' });
    const sock = openProbeSocket(
      p.connect,
      p.port,
      {
        connect: () => {
          if (p.kind === 'tcp') return settle({ kind: 'accepted' });
          sock.write(Buffer.from(`GET ${p.path} HTTP/1.0\r\nHost: ${p.host}\r\nUser-Agent: lbha-agent-readiness\r\nAccept: */*\r\n\r\n`, 'latin1'));
        },
        data: (chunk) => {
          received += chunk.toString('latin1');
          const m = STATUS_LINE.exec(received);
          if (m) settle({ kind: 'status', status: Number(m[1]) });
          else if (received.length >= 64 || received.includes('\n')) settle({ kind: 'failed', error: 'the answer is not HTTP' });
        },
        end: () => settle({ kind: 'failed', error: 'closed without an answer' }),
        error: (code) => settle({ kind: 'failed', error: code }),
      },
      kind,
    );
    const timer = setTimeout(() => settle({ kind: 'failed', error: `no answer within ${p.timeoutMs}ms` }), p.timeoutMs);
    function settle(a: ProxyAnswer): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      sock.destroy();
      resolve(a);
    }
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
