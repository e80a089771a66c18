// The connection of HTTP and TCP checks, on node's TCP handle and on a net.Socket: the same
// events (connect, the bytes, the peer's end, errors by errno name) on real servers, IPv4 and
// IPv6, and the probes on a name to look up (net.Socket) as on an address (the handle).
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { describe, it } from 'node:test';
import { HEALTHY } from '@lbha/shared';
import { AgentMetrics } from '../src/agent-metrics.js';
import { httpProbe } from '../src/checks/http-probe.js';
import { openProbeSocket, probeSocketKind } from '../src/checks/probe-socket.js';
import { tcpProbe } from '../src/checks/tcp-probe.js';
import { ownOpensAnswered } from '../src/services/own-opens.js';

const listen = async (server: Server, host: string): Promise<number> => {
  await new Promise<void>((r) => server.listen(0, host, r));
  return (server.address() as AddressInfo).port;
};
const close = (server: { close(cb: () => void): void }): Promise<void> => new Promise((r) => server.close(() => r()));

/** What one connection saw: its events in order, and the bytes. */
function exchange(kind: 'handle' | 'net', host: string, port: number, request: Buffer | undefined): Promise<{ events: string[]; text: string }> {
  return new Promise((resolve) => {
    const events: string[] = [];
    let text = '';
    const done = (): void => {
      sock.destroy();
      resolve({ events, text });
    };
    const sock = openProbeSocket(
      host,
      port,
      {
        connect: () => {
          events.push('connect');
          if (request) sock.write(request);
          else done();
        },
        data: (c) => void (text += c.toString('latin1')),
        end: () => {
          events.push('end');
          done();
        },
        error: (code) => {
          events.push(`error ${code}`);
          done();
        },
      },
      kind,
    );
  });
}

describe('probe connections', () => {
  it('use node\'s TCP handle on this node', () => {
    assert.equal(probeSocketKind(), 'handle');
  });

  it('are named in the agent\'s metrics, so an operator sees which ones run', async () => {
    const text = await new AgentMetrics({ defaultMetrics: false }).registry.render();
    const series = text.split('\n').filter((l) => l.startsWith('lbha_agent_probe_socket_info'));
    assert.deepEqual(series, [`lbha_agent_probe_socket_info{implementation="${probeSocketKind()}"} 1`]);
  });

  for (const kind of ['handle', 'net'] as const) {
    for (const host of ['127.0.0.1', '::1']) {
      it(`${kind}, ${host}: write, read to the peer's end, close; a refused port is ECONNREFUSED`, async () => {
        // An echo of the request, upper-cased, then the server closes.
        const server = createServer((s) => s.once('data', (d: Buffer) => s.end(d.toString('latin1').toUpperCase())));
        const port = await listen(server, host);
        try {
          assert.deepEqual(await exchange(kind, host, port, Buffer.from('ping\n')), { events: ['connect', 'end'], text: 'PING\n' });
          assert.deepEqual(await exchange(kind, host, port, undefined), { events: ['connect'], text: '' });
        } finally {
          await close(server);
        }
        assert.deepEqual(await exchange(kind, host, port, Buffer.from('ping\n')), { events: ['error ECONNREFUSED'], text: '' });
      });
    }

    it(`${kind}: a connection reset by the peer is an error, not an end`, async () => {
      const server = createServer((s) => s.once('data', () => s.resetAndDestroy()));
      const port = await listen(server, '127.0.0.1');
      try {
        assert.deepEqual(await exchange(kind, '127.0.0.1', port, Buffer.from('ping\n')), { events: ['connect', 'error ECONNRESET'], text: '' });
      } finally {
        await close(server);
      }
    });
  }

  for (const kind of ['handle', 'net'] as const) {
    it(`tell the hung-proxy watch of a loopback connection that was answered, and of no other (${kind})`, async () => {
      // The probe may close with bytes unread on either side: a reset, no failure.
      const answering = createServer((s) => s.on('error', () => {}).resume().end('hello'));
      const silent = createServer((s) => s.on('error', () => {}).resume().end());
      const port = await listen(answering, '127.0.0.1');
      const silentPort = await listen(silent, '127.0.0.1');
      try {
        const before = ownOpensAnswered();
        assert.equal((await exchange(kind, '127.0.0.1', port, Buffer.from('x'))).text, 'hello');
        assert.equal(ownOpensAnswered(), before + 1);
        // Accepted and closed without a byte, or only connected: not counted.
        assert.equal((await exchange(kind, '127.0.0.1', silentPort, Buffer.from('x'))).text, '');
        await exchange(kind, '127.0.0.1', port, undefined);
        assert.equal(ownOpensAnswered(), before + 1);
      } finally {
        await close(answering);
        await close(silent);
      }
    });
  }

  it('checks a name to look up (localhost) as they check an address', async () => {
    const server = createHttpServer((req, res) => res.writeHead(req.url === '/health' ? 200 : 503).end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const signal = new AbortController().signal;
    const base = { method: 'GET', host: '', expectStatus: 0, bodyContains: 'ok', tlsVerify: true };
    try {
      for (const host of ['localhost', '127.0.0.1']) {
        assert.deepEqual(await httpProbe({ ...base, url: `http://${host}:${port}/health` }).probe(signal), HEALTHY, host);
        assert.match(((await httpProbe({ ...base, url: `http://${host}:${port}/other` }).probe(signal)) as { reason: string }).reason, /returned 503/);
        assert.deepEqual(await tcpProbe(host, port).probe(signal), HEALTHY, host);
      }
    } finally {
      await close(server);
    }
  });
});
