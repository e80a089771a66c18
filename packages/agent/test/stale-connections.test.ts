// The connections a node ends when it takes a VIP back after keepalived's death: the parsing of
// `ss -tni` (a table), and the real `ss -K` on a loopback address of the test's own: a connection
// quiet since the loss is reset, one whose client kept sending stays.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { createLogger } from '@lbha/shared';
import { sleep } from '@lbha/test-support';
import { destroyArgs, establishedArgs, parseEstablished, StaleConnections, timeWaitArgs } from '../src/net/stale-connections.js';
import { runCommand } from '../src/util/run-command.js';
import { isRoot } from './helpers/netns.js';

/** An address of 127/8 nobody else uses, so that only this test's connections are on it. */
const VIP = `127.${50 + (process.pid % 150)}.${process.pid % 250}.10`;

describe('stale connections: what ss says', () => {
  it('reads each socket\'s peer and how long since it last heard from it', () => {
    const text = [
      '0      0      192.168.20.28:80 192.168.20.1:44204',
      '\t bbr wscale:10,10 rto:204 rtt:0.017/0.009 mss:1448 lastsnd:832 lastrcv:2688 lastack:832 pacing_rate 1bps',
      '0      0      [fd00::28]:80 [fd00::1]:5000',
      '\t cubic lastsnd:10 lastrcv:10 lastack:12000',
      '0      0      192.168.20.28:80 192.168.20.1:44206',
      '\t cubic rto:204 lastsnd:10',
      '',
    ].join('\n');
    assert.deepEqual(parseEstablished(text), [
      { peer: '192.168.20.1:44204', quietMs: 832 },
      { peer: '[fd00::1]:5000', quietMs: 12000 },
    ], 'a socket without lastack is left out');
    assert.deepEqual(parseEstablished(''), []);
  });

  it('lists and ends by exact peers, IPv6 in brackets', () => {
    assert.deepEqual(establishedArgs('fd00::28'), ['-Htni', 'state', 'established', 'src', '[fd00::28]']);
    assert.deepEqual(timeWaitArgs('192.168.20.28'), ['-K', '-Htn', 'state', 'time-wait', 'src', '192.168.20.28']);
    assert.deepEqual(destroyArgs('192.168.20.28', ['192.168.20.1:1', '192.168.20.1:2']), ['-K', '-Htn', 'state', 'established', 'src', '192.168.20.28', '(', 'dst', '192.168.20.1:1', 'or', 'dst', '192.168.20.1:2', ')']);
  });
});

describe('stale connections: taking the VIP back', () => {
  it('ends the TIME-WAIT sockets on the VIP, which answer a colliding connection with an ACK only', { skip: isRoot ? false : 'ss -K needs CAP_NET_ADMIN' }, async () => {
    const server = createServer((s) => {
      s.on('error', () => undefined);
      // The server closes first: TIME-WAIT on its side, as nginx's for a fresh-connection client.
      s.end('bye');
    });
    after(() => server.close());
    server.listen(0, VIP);
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    for (let i = 0; i < 3; i++) {
      const c = createConnection({ host: VIP, port, localAddress: '127.0.0.1' });
      c.on('data', () => undefined);
      c.on('end', () => c.end());
      await once(c, 'close');
    }
    const waiting = async (): Promise<number> => (await runCommand('ss', ['-Htn', 'state', 'time-wait', 'src', VIP, 'sport', '=', `:${port}`])).stdout.split('\n').filter((l) => l.trim() !== '').length;
    assert.equal(await waiting(), 3, 'three TIME-WAIT sockets on the VIP');
    const ended = await new StaleConnections({ ssProgram: 'ss', run: runCommand, logger: createLogger('test', { level: 'silent' }) }).regained('vip-28', VIP, undefined);
    assert.ok(ended >= 3, `ended ${ended}`);
    assert.equal(await waiting(), 0);
  });

  const sockets: Socket[] = [];
  after(() => {
    for (const s of sockets) s.destroy();
  });

  it('after keepalived\'s death: resets what received nothing while the VIP was away, keeps what its client kept using', { skip: isRoot ? false : 'ss -K needs CAP_NET_ADMIN' }, async () => {
    const server = createServer((s) => {
      sockets.push(s);
      s.on('error', () => undefined);
      s.on('data', () => undefined);
    });
    after(() => server.close());
    server.listen(0, VIP);
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const connect = async (): Promise<Socket> => {
      const c = createConnection({ host: VIP, port, localAddress: '127.0.0.1' });
      await once(c, 'connect');
      c.on('error', () => undefined);
      sockets.push(c);
      return c;
    };
    const quiet = await connect();
    const busy = await connect();
    // (`once` would reject on the reset's error event.)
    const quietReset = new Promise((resolve) => quiet.once('close', resolve));
    // The VIP is away for 400 ms; the busy client sends meanwhile, the quiet one does not.
    await sleep(250);
    busy.write('GET / HTTP/1.1\r\n\r\n');
    await sleep(150);
    const stale = new StaleConnections({ ssProgram: 'ss', run: runCommand, logger: createLogger('test', { level: 'silent' }) });
    assert.equal(await stale.regained('vip-28', VIP, undefined), 0, 'not after keepalived\'s death: no established connection is judged');
    assert.equal(busy.destroyed || quiet.destroyed, false);
    const ended = await stale.regained('vip-28', VIP, 400);
    assert.equal(ended, 1, 'the quiet connection only');
    await quietReset;
    assert.equal(busy.destroyed, false, 'the connection its client kept using stays');
    const left = parseEstablished((await runCommand('ss', establishedArgs(VIP))).stdout);
    assert.equal(left.length, 1, `one server-side connection left on the VIP: ${JSON.stringify(left)}`);
  });
});
