// A tracked link going down resets the connections on the VIPs behind it: which VIPs (a table),
// the real `ss -K` on a loopback address of the test's own with real connections, and what is
// said when ss fails or the kernel destroys nothing (a fake runner at the port).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { createLogger, type DesiredState } from '@lbha/shared';
import { LinkDownReset, resetConnectionsArgs, vipsBehindLink } from '../src/net/link-down-reset.js';
import type { CommandOutcome, CommandRunner } from '../src/util/run-command.js';
import { runCommand } from '../src/util/run-command.js';
import { instance, NGINX_ACTIVE_ACTIVE } from './fixtures/desired-states.js';
import { isRoot } from './helpers/netns.js';

/** Addresses of 127/8 nobody else uses, so that only this test's connections are on them. */
const VIP = `127.${50 + (process.pid % 150)}.${process.pid % 250}.8`;
const OTHER = `127.${50 + (process.pid % 150)}.${process.pid % 250}.9`;

function logged(): { logger: ReturnType<typeof createLogger>; events: () => Array<Record<string, unknown>> } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger('test', { level: 'info', destination }), events: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const outcome = (exitCode: number, stdout = ''): CommandOutcome => ({ exitCode, output: stdout, stdout, timedOut: false, spawnError: undefined });

describe('which VIPs a link going down resets', () => {
  const d: DesiredState = {
    ...NGINX_ACTIVE_ACTIVE,
    instances: [
      ...NGINX_ACTIVE_ACTIVE.instances,
      instance({ name: 'vip6', vrid: 61, vip: 'fd00:20::28/64', trackInterfaces: ['eth2'] }),
      instance({ name: 'untracked', vrid: 62, vip: '192.168.20.30/24' }),
    ],
  };
  const cases: Array<[string, DesiredState | undefined, string, string[]]> = [
    ['the inner link: every instance that tracks it', d, 'eth2', ['192.168.20.28', '192.168.20.29', 'fd00:20::28']],
    ['the VIP\'s own interface, even tracked: its clients are behind it, a reset cannot reach them', d, 'eth1', []],
    ['a link nobody tracks', d, 'eth3', []],
    ['no desired state yet', undefined, 'eth2', []],
  ];
  for (const [what, state, ifname, vips] of cases) {
    it(what, () => assert.deepEqual(vipsBehindLink(state, ifname), vips));
  }

  it('ends the open connections with ss -K, the same filter the handover counts with', () => {
    assert.deepEqual(resetConnectionsArgs('192.168.20.28').slice(0, 3), ['-K', '-Htn', 'state']);
    assert.equal(resetConnectionsArgs('192.168.20.28').at(-1), '192.168.20.28');
    assert.equal(resetConnectionsArgs('fd00::28').at(-1), '[fd00::28]');
  });
});

describe('resetting the connections behind a link', () => {
  const d: DesiredState = { ...NGINX_ACTIVE_ACTIVE, instances: [instance({ name: 'vip-28', vrid: 51, vip: `${VIP}/8`, trackInterfaces: ['eth2'] })] };
  const sockets: Socket[] = [];
  after(() => {
    for (const s of sockets) s.destroy();
  });

  it('resets the server side of each connection on the VIP, as a kernel reset the client sees; others stay', { skip: isRoot ? false : 'ss -K needs CAP_NET_ADMIN' }, async () => {
    const accepted: Socket[] = [];
    const server = createServer((s) => {
      accepted.push(s);
      sockets.push(s);
      s.on('error', () => undefined);
    });
    after(() => server.close());
    server.listen(0, VIP);
    await once(server, 'listening');
    const other = createServer((s) => sockets.push(s));
    after(() => other.close());
    other.listen(0, OTHER);
    await once(other, 'listening');
    const connect = async (host: string, port: number): Promise<Socket> => {
      // From another address: the clients' own sockets must not be on the VIP.
      const c = createConnection({ host, port, localAddress: '127.0.0.1' });
      await once(c, 'connect');
      sockets.push(c);
      return c;
    };
    const port = (server.address() as { port: number }).port;
    // One client waits for an answer (it sent a request), one is idle.
    const waiting = await connect(VIP, port);
    waiting.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const idle = await connect(VIP, port);
    const elsewhere = await connect(OTHER, (other.address() as { port: number }).port);
    const errors = [waiting, idle].map((c) => once(c, 'error').then(([e]) => (e as NodeJS.ErrnoException).code));

    const log = logged();
    const ended = await new LinkDownReset({ ssProgram: 'ss', run: runCommand, logger: log.logger }).linkDown(d, 'eth2');
    assert.deepEqual([...ended], [[VIP, 2]], 'the two connections the node had accepted on the VIP');
    assert.deepEqual(await Promise.all(errors), ['ECONNRESET', 'ECONNRESET'], 'both clients got a reset at once, the idle one too');
    assert.equal(elsewhere.destroyed, false, 'a connection to another address stays');
    const e = log.events().find((l) => l.event === 'failover.connections_reset');
    assert.equal(e?.connections, 2);
    assert.equal(e?.interface, 'eth2');
    const left = await runCommand('ss', ['-Htn', 'src', VIP]);
    assert.equal(left.stdout.trim(), '', 'nothing left on the VIP');
  });

  it('says so when ss fails, or when the kernel destroys none of the connections', async () => {
    const calls: string[][] = [];
    let answers: CommandOutcome[] = [];
    const run: CommandRunner = async (_file, args) => {
      calls.push([...args]);
      return answers.shift() ?? outcome(0);
    };
    const log = logged();
    const reset = new LinkDownReset({ ssProgram: 'ss', run, logger: log.logger });

    answers = [outcome(1, 'ss: bad filter')];
    assert.deepEqual([...(await reset.linkDown(d, 'eth2'))], []);
    assert.match(String(log.events().at(-1)?.msg), /cannot end the connections on .*: ss: bad filter/);

    // A kernel without CONFIG_INET_DIAG_DESTROY: ss -K names nothing, the connections are still there.
    calls.length = 0;
    answers = [outcome(0, ''), outcome(0, 'a\nb\n')];
    assert.deepEqual([...(await reset.linkDown(d, 'eth2'))], [[VIP, 0]]);
    assert.equal(calls[0]?.[0], '-K');
    assert.notEqual(calls[1]?.[0], '-K', 'then counted without -K');
    assert.equal(log.events().at(-1)?.event, 'failover.reset_failed');
    assert.match(String(log.events().at(-1)?.msg), /ended none of the 2 connections/);

    // Nothing open: nothing said.
    const before = log.events().length;
    answers = [outcome(0, ''), outcome(0, '')];
    await reset.linkDown(d, 'eth2');
    assert.equal(log.events().length, before);
    assert.deepEqual(await reset.linkDown(d, 'eth1'), new Map(), 'the VIP\'s own link: nothing run');
  });
});
