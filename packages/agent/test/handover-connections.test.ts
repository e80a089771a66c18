// The count an outgoing handover reports: the real `ss` on a loopback address of the test's
// own, with connections opened and closed by the test.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { eventually } from '@lbha/test-support';
import { HandoverConnections, openConnectionsArgs } from '../src/net/handover-connections.js';
import type { HandoverTask } from '../src/net/handover-task.js';
import { runCommand } from '../src/util/run-command.js';

/** An address of 127/8 nobody else uses, so that only this test's connections are on it. */
const VIP = `127.${50 + (process.pid % 150)}.${process.pid % 250}.7`;
const task = (role: HandoverTask['role'], instance = 'vip-28'): HandoverTask => ({ instance, vrid: 51, interface: 'eth1', vip: VIP, role, peer: '10.0.0.2', untilMs: Date.now() + 30_000 });

const sockets: Socket[] = [];
const server = createServer((s) => sockets.push(s));
after(() => {
  for (const s of sockets) s.destroy();
  server.close();
});

async function connect(port: number): Promise<Socket> {
  // From another address: the clients' own sockets must not be on the VIP.
  const c = createConnection({ host: VIP, port, localAddress: '127.0.0.1' });
  await once(c, 'connect');
  sockets.push(c);
  return c;
}

describe('handover connections', () => {
  it('lists the open TCP connections on the VIP with ss, not those in time-wait', () => {
    assert.deepEqual(openConnectionsArgs('192.168.20.28'), [
      '-Htn',
      ...['established', 'syn-recv', 'fin-wait-1', 'fin-wait-2', 'close-wait', 'last-ack', 'closing'].flatMap((s) => ['state', s]),
      'src',
      '192.168.20.28',
    ]);
    assert.equal(openConnectionsArgs('fd00::28').at(-1), '[fd00::28]');
  });

  it('counts what the node still serves on the VIP of an outgoing handover once the VIP has left', async () => {
    server.listen(0, VIP);
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    let present = true;
    let tasks = [task('outgoing'), task('incoming', 'vip-29')];
    let changes = 0;
    const counter = new HandoverConnections({ ssProgram: 'ss', run: runCommand, intervalMs: 60_000, running: () => tasks, present: () => present, onChange: () => changes++ });
    const clients = [await connect(port), await connect(port), await connect(port)];

    await counter.look();
    assert.deepEqual([...counter.current()], [], 'the VIP is still here: every connection is the node\'s own');
    assert.equal(changes, 0);

    present = false;
    await counter.look();
    assert.deepEqual([...counter.current()], [['vip-28', 3]], 'outgoing only; the server side of each connection');
    assert.equal(changes, 1);

    await counter.look();
    assert.equal(changes, 1, 'no change, no call');

    // A client that closes: the server's side leaves the count once the close is acknowledged.
    clients[0]?.end();
    await eventually(async () => {
      await counter.look();
      return counter.current().get('vip-28') === 2;
    }, 'the closed connection to leave the count');

    tasks = [];
    await counter.look();
    assert.deepEqual([...counter.current()], [], 'no handover, no count');
    assert.equal(changes, 3);
  });
});
