// The pure parts of unplanned failover: the failover tables, the priority-0 advert keepalived
// could not send, and the hung-proxy rule, as tables of cases.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { DesiredState } from '@lbha/shared';
import { leavingAdverts } from '../src/keepalived/leaving-adverts.js';
import { v6Bytes, vrrpV3Advert } from '../src/keepalived/vrrp-advert.js';
import { canServeNow, type ServeInput } from '../src/core/unplanned-failover.js';
import { failoverRuleset, givenCommand, parseSetElements } from '../src/net/failover-ruleset.js';
import { listenQueueReader, parseListenQueues, passiveOpens } from '../src/services/listen-queue.js';
import { NOT_OWN, ownOpenAnswered, ownOpenStarted } from '../src/services/own-opens.js';
import { stallReason, stoppedWorkers, type StallSample } from '../src/services/stall-rule.js';
import { StallWatch, WORKER_SCAN_SAMPLES } from '../src/services/stall-watch.js';
import { NGINX_ACTIVE_ACTIVE } from './fixtures/desired-states.js';

describe('VRRPv3 advert', () => {
  it('matches the bytes a keepalived 2.2.7 backup accepted as a priority-0 advert', () => {
    // Captured in a scratch namespace: the backup logged "Backup received priority 0 advertisement".
    const a = vrrpV3Advert({ vrid: 51, priority: 0, advertIntMs: 100, src: '10.9.0.11', dst: '224.0.0.18', vips: ['10.9.0.100'] });
    assert.equal(a.toString('hex'), '31330001000ad9b10a090064');
    const b = vrrpV3Advert({ vrid: 52, priority: 0, advertIntMs: 100, src: 'fe80::4c0f:d1ff:fe19:c028', dst: 'ff02::12', vips: ['fd09::100'] });
    assert.equal(b.toString('hex'), '31340001000af646fd090000000000000000000000000100');
  });

  it('writes IPv6 addresses in their 16 bytes', () => {
    assert.deepEqual(v6Bytes('::1'), [...Array(15).fill(0), 1]);
    assert.deepEqual(v6Bytes('fd00:1::').slice(0, 4), [0xfd, 0, 0, 1]);
  });

  it('is sent for the instances this node was master of, from its own address, to the group or the peers', () => {
    const d = NGINX_ACTIVE_ACTIVE;
    const addrs = new Map([['eth1', new Set(['192.168.20.19/24', '192.168.20.28/24', 'fe80::1/64'])]]);
    const names = d.instances.map((i) => i.name);
    const packets = leavingAdverts(d, new Set([names[0] as string]), addrs);
    assert.equal(packets.length, 1);
    assert.equal(packets[0]?.src, '192.168.20.19', 'the VIP is never the source');
    assert.equal(packets[0]?.dst, '224.0.0.18');
    assert.equal(packets[0]?.payload[2], 0, 'priority 0');
    const unicast: DesiredState = { ...d, keepalived: { ...d.keepalived, unicast: true, unicastSrc: '192.168.20.19', unicastPeers: ['192.168.20.20'], mcastGroup: '' } };
    assert.deepEqual(leavingAdverts(unicast, new Set(names), addrs).map((p) => p.dst), names.map(() => '192.168.20.20'));
    const v2 = leavingAdverts({ ...d, keepalived: { ...d.keepalived, vrrpVersion: 2, advertIntMs: 1000 } }, new Set(names), addrs);
    assert.deepEqual(v2.map((p) => [p.payload[0], p.payload[2]]), names.map(() => [0x21, 0]), 'VRRPv2 instances get a VRRPv2 priority-0 advert (vrrp-v2-advert.test.ts)');
  });
});

describe('failover tables', () => {
  const targets = [
    { vip: '192.168.20.28', interface: 'eth1', peer: '192.168.20.20' },
    { vip: 'fd00::28', interface: 'eth1', peer: 'fd00::20' },
  ];

  it('renders one table per family with the VIPs of that family only', () => {
    const v4 = failoverRuleset(4, targets, ['192.168.20.28', 'fd00::28'], ['02:00:00:00:00:02']);
    assert.match(v4, /^add table ip lbha_failover$/m);
    assert.match(v4, /iifname "eth1" meta pkttype host ip daddr 192\.168\.20\.28 meta l4proto tcp jump vip/);
    assert.match(v4, /ip daddr 192\.168\.20\.28 dup to 192\.168\.20\.20 device "eth1" drop/);
    assert.match(v4, /^flush set ip lbha_failover given\nflush set ip lbha_failover peers\nadd element ip lbha_failover given \{ 192\.168\.20\.28 \}$/m, 'given is set, not added to');
    assert.match(v4, /^add element ip lbha_failover peers \{ 02:00:00:00:00:02 \}$/m);
    assert.doesNotMatch(v4, /fd00/);
    const v6 = failoverRuleset(6, targets, [], []);
    assert.match(v6, /ip6 daddr fd00::28 dup to fd00::20 device "eth1" drop/);
    assert.doesNotMatch(v6, /192\.168/);
  });

  it('keeps the flows of a table it finds, unless told to replace it', () => {
    const keep = failoverRuleset(4, targets, [], []);
    assert.match(keep, /^add table ip lbha_failover\nflush table ip lbha_failover\n/, 'rules go, sets stay');
    assert.doesNotMatch(keep, /delete table|flush set ip lbha_failover flows/);
    assert.match(failoverRuleset(4, targets, [], [], 'replace'), /^add table ip lbha_failover\ndelete table ip lbha_failover\n/);
  });

  it('reads what a previous run left in the given set', () => {
    const listed = '{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"set": {"family": "ip", "name": "given", "table": "lbha_failover", "type": "ipv4_addr", "elem": ["192.168.20.28", "192.168.20.29"]}}]}';
    assert.deepEqual(parseSetElements(listed), ['192.168.20.28', '192.168.20.29']);
    assert.deepEqual(parseSetElements('{"nftables": [{"set": {"name": "given"}}]}'), []);
    assert.deepEqual(parseSetElements(''), []);
  });

  it('leaves the set alone while a restarted agent waits for its checks', () => {
    const ok: ServeInput = { gate: 'open', faults: 0, mode: 'active', keepalivedRunning: true };
    const cases: Array<[string, Partial<ServeInput>, boolean | undefined]> = [
      ['all well', {}, true],
      ['a fault', { faults: 1 }, false],
      ['draining', { mode: 'draining' }, false],
      ['keepalived not running', { keepalivedRunning: false }, false],
      ['keepalived started by this agent, checks not settled (FAULT)', { gate: 'fault' }, false],
      ['an adopted keepalived, checks not settled: as the previous run left it', { gate: 'hold', faults: 1 }, undefined],
      ['before the daemons are known', { gate: 'starting', keepalivedRunning: false }, undefined],
    ];
    for (const [name, over, want] of cases) assert.equal(canServeNow({ ...ok, ...over }), want, name);
  });

  it('flips the given set in one transaction', () => {
    assert.equal(givenCommand(4, ['192.168.20.28', 'fd00::28']), 'flush set ip lbha_failover given; add element ip lbha_failover given { 192.168.20.28 }');
    assert.equal(givenCommand(6, ['192.168.20.28']), 'flush set ip6 lbha_failover given');
  });
});

describe('hung proxy', () => {
  const s = (tMs: number, queued: number, stopped = false, runnable = false): StallSample => ({ tMs, queued, stopped, runnable });
  const cases: Array<[string, StallSample[], string | undefined]> = [
    ['no samples', [], undefined],
    ['an empty queue', [s(0, 0), s(20, 0)], undefined],
    ['a queue that empties now and then (busy, slow backends)', [s(0, 3), s(20, 1), s(40, 0), s(60, 2), s(80, 4), s(100, 1), s(120, 2)], undefined],
    ['a queue not empty for less than the window', [s(0, 0), s(20, 1), s(40, 2), s(60, 3), s(80, 4), s(100, 5)], undefined],
    ['a queue not empty for the whole window while the proxy sleeps', [s(0, 0), s(20, 1), s(40, 2), s(60, 3), s(80, 4), s(100, 5), s(120, 6)], 'its accept queue has not emptied for 100 ms while it slept'],
    ['a queue not empty for the whole window while the proxy waits for a CPU', [s(0, 0), s(20, 1), s(40, 2), s(60, 3, false, true), s(80, 4), s(100, 5), s(120, 6)], undefined],
    ['every process stopped, twice in a row', [s(0, 0), s(20, 0, true), s(40, 0, true)], 'every process is stopped'],
    ['stopped once only', [s(0, 0, true), s(20, 0)], undefined],
  ];
  for (const [name, samples, want] of cases) {
    it(name, () => assert.equal(stallReason(samples), want));
  }

  it('reads the accept queues of the proxy listeners from the head of /proc/net/tcp', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 00000000:0050 00000000:0000 0A 00000000:00000007 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0',
      '   1: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 100 0 0 10 0',
      '   2: 0100007F:0016 00000000:0000 0A 00000000:00000009 00:00000000 00000000     0        0 9999 1 0000000000000000 100 0 0 10 0',
      '   3: 1C14A8C0:0050 0114A8C0:D3A2 01 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 20 4 30 10 -1',
    ].join('\n');
    assert.deepEqual(parseListenQueues(text, new Set(['1001', '1002'])), { queued: 7, listeners: 2, listenLines: 3 });
  });

  it('reads only the file that held the listeners until the socket set changes or none is found', () => {
    const root = mkdtempSync(join(tmpdir(), 'lbha-listen-'));
    try {
      mkdirSync(join(root, 'net'));
      const header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
      const listener = (inode: string, queued: number) =>
        `   0: 00000000:0050 00000000:0000 0A 00000000:0000000${queued} 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 100 0 0 10 0`;
      writeFileSync(join(root, 'net', 'tcp'), [header, listener('1001', 2)].join('\n'));
      writeFileSync(join(root, 'net', 'tcp6'), header);
      const read = listenQueueReader(root);
      const sockets = new Set(['1001', '2002']);
      assert.deepEqual(read(sockets), { queued: 2, listeners: 1, found: { tcp: true, tcp6: false }, listenLines: { tcp: 1, tcp6: 0 } });
      // tcp6 is no longer read for this socket set.
      writeFileSync(join(root, 'net', 'tcp6'), [header, listener('2002', 5)].join('\n'));
      assert.equal(read(sockets).listeners, 1);
      // A new socket set (the proxy restarted): both files again.
      assert.deepEqual(read(new Set(sockets)), { queued: 7, listeners: 2, found: { tcp: true, tcp6: true }, listenLines: { tcp: 1, tcp6: 1 } });
      // No listener found where they were: both files at the next read.
      const only4 = new Set(['1001']);
      read(only4);
      writeFileSync(join(root, 'net', 'tcp'), header);
      writeFileSync(join(root, 'net', 'tcp6'), [header, listener('1001', 3)].join('\n'));
      assert.equal(read(only4).listeners, 0);
      assert.deepEqual(read(only4), { queued: 3, listeners: 1, found: { tcp: false, tcp6: true }, listenLines: { tcp: 0, tcp6: 1 } });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('reads on past the listeners it expected while every line so far is a listener', () => {
    const root = mkdtempSync(join(tmpdir(), 'lbha-listen-'));
    try {
      mkdirSync(join(root, 'net'));
      const header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
      const line = (i: number, state: string, inode: number, queued: number) =>
        `${String(i).padStart(4)}: 00000000:${(1000 + i).toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 ${state} 00000000:${queued.toString(16).toUpperCase().padStart(8, '0')} 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 100 0 0 10 0`;
      // 30 listeners (more than a first read asks for), then 300 connections.
      const listeners = Array.from({ length: 30 }, (_, i) => line(i, '0A', 5000 + i, i === 29 ? 4 : 0));
      const connections = Array.from({ length: 300 }, (_, i) => line(30 + i, '01', 9000 + i, 0));
      writeFileSync(join(root, 'net', 'tcp'), [header, ...listeners, ...connections].join('\n'));
      writeFileSync(join(root, 'net', 'tcp6'), header);
      const read = listenQueueReader(root);
      const proxy = new Set(['5000', '5029']);
      const first = read(proxy);
      assert.deepEqual([first.queued, first.listeners, first.listenLines.tcp], [4, 2, 30]);
      // Sized by the 30 listeners now; a listener added at the end of them is still seen.
      writeFileSync(join(root, 'net', 'tcp'), [header, ...listeners, line(30, '0A', 5030, 2), ...connections].join('\n'));
      const second = read(new Set([...proxy, '5030']));
      assert.deepEqual([second.queued, second.listeners, second.listenLines.tcp], [6, 3, 31]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('reads PassiveOpens from /proc/net/snmp wherever its field is, and nothing from a file without it', () => {
    const root = mkdtempSync(join(tmpdir(), 'lbha-snmp-'));
    try {
      mkdirSync(join(root, 'net'));
      const snmp = (text: string): number | undefined => (writeFileSync(join(root, 'net', 'snmp'), text), passiveOpens(root));
      const ip = 'Ip: Forwarding DefaultTTL InReceives\nIp: 1 64 123456789\n';
      const udp = 'Udp: InDatagrams NoPorts\nUdp: 5 6\n';
      assert.equal(snmp(`${ip}Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails\nTcp: 1 200 120000 -1 466376 331576 125073\n${udp}`), 331576);
      // The same kernel layout, other lengths of the lines before it: the field is found again.
      assert.equal(snmp(`Ip: Forwarding\nIp: 1\nTcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails\nTcp: 1 200 120000 -1 4 7 1\n`), 7);
      // Another position of the field, and the last one of its line.
      assert.equal(snmp('Tcp: ActiveOpens PassiveOpens\nTcp: 10 0\n'), 0);
      assert.equal(snmp('Tcp: PassiveOpens ActiveOpens\nTcp: 12 10'), 12);
      // A name that only contains it, a "Tcp: " that does not start a line, values cut short, not a number.
      assert.equal(snmp('Tcp: XPassiveOpens\nTcp: 3\n'), undefined);
      assert.equal(snmp('IpExt: Tcp: PassiveOpens\nTcp: 3\n'), undefined);
      assert.equal(snmp('Tcp: ActiveOpens PassiveOpens\nTcp: 10\n'), undefined);
      assert.equal(snmp('Tcp: ActiveOpens PassiveOpens\nTcp: 10 x1\n'), undefined);
      assert.equal(snmp('Ip: Forwarding\nIp: 1\n'), undefined);
      // A file shorter than the one before: what is left of the longer one in the buffer is not read.
      snmp(`${ip}Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails\nTcp: 1 200 120000 -1 466376 331576 125073\n${udp}`);
      assert.equal(snmp('Ip: Forwarding DefaultTTL InReceives\nIp: 1 64 123456789\nTcp: RtoAlgorithm'), undefined);
      rmSync(join(root, 'net', 'snmp'));
      assert.equal(passiveOpens(root), undefined);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('the watch is quiet unless connections wait or the proxy is stopped', () => {
    let queued = 0;
    let stopped = false;
    const w = new StallWatch({
      intervalMs: 20,
      pid: () => 100,
      onChange: () => {},
      read: { tree: (p) => [p], inodes: () => new Set(['1']), queues: () => ({ queued, listeners: 1 }), states: () => ({ stopped, runnable: false }), stopped: () => [] },
    });
    assert.equal(w.quiet, true, 'no sample yet');
    w.sample();
    assert.equal(w.quiet, true);
    queued = 2;
    w.sample();
    assert.equal(w.quiet, false, 'connections wait');
    queued = 0;
    w.sample();
    assert.equal(w.quiet, true);
    stopped = true;
    w.sample();
    assert.equal(w.quiet, false, 'stopped');
    w.stop();
    assert.equal(w.quiet, true, 'not watching');
  });

  const workerCases: Array<[string, number[][], number[]]> = [
    ['no look yet', [], []],
    ['one look only', [[12]], []],
    ['a worker stopped in two looks in a row', [[], [12], [12, 13]], [12]],
    ['a worker stopped, then running, then stopped again', [[12], [], [12]], []],
    ['two workers stopped twice', [[12, 13], [13, 12]], [13, 12]],
  ];
  for (const [name, scans, want] of workerCases) {
    it(`stopped workers: ${name}`, () => assert.deepEqual(stoppedWorkers(scans), want));
  }

  /**
   * A watch of a master (pid 100) with workers 101 and 102, sampled every 20 ms of a fake clock;
   * `state` says which are stopped and how many connections wait.
   */
  function workerWatch(state: { stopped: Set<number>; queued?: number }) {
    const reported: Array<[number, string]> = [];
    const changes: Array<string | undefined> = [];
    let t = 0;
    const w = new StallWatch({
      intervalMs: 20,
      pid: () => 100,
      now: () => (t += 20),
      onChange: (r) => changes.push(r),
      onStoppedWorker: (pid, reason) => reported.push([pid, reason]),
      read: {
        tree: (p) => [p, 101, 102],
        inodes: () => new Set(['1']),
        queues: () => ({ queued: state.queued ?? 0, listeners: 1 }),
        states: (pids) => ({ stopped: pids.every((p) => state.stopped.has(p)), runnable: false }),
        stopped: (pids) => pids.filter((p) => state.stopped.has(p)),
      },
    });
    const look = (times = 1) => {
      for (let i = 0; i < times * WORKER_SCAN_SAMPLES; i++) w.sample();
    };
    return { w, reported, changes, look };
  }

  it('reports a worker stopped in two looks while the master runs, once, and no hang', () => {
    const state = { stopped: new Set<number>() };
    const { w, reported, changes, look } = workerWatch(state);
    look();
    state.stopped.add(102);
    look();
    assert.equal(reported.length, 0, 'stopped in one look only');
    look();
    assert.deepEqual(reported.map(([pid]) => pid), [102]);
    assert.match(reported[0]?.[1] ?? '', /worker 102 has been stopped for 100 ms or more while the master runs/);
    look(3);
    assert.equal(reported.length, 1, 'reported once');
    assert.deepEqual(changes, [], 'the proxy is not hung: the other worker takes its connections');
    w.stop();
  });

  it('looks at the workers at every sample while connections wait: every worker stopped is killed before the hang rule fires', () => {
    const state = { stopped: new Set([101, 102]), queued: 3 };
    const { w, reported, changes } = workerWatch(state);
    w.sample();
    w.sample();
    assert.deepEqual(reported.map(([pid]) => pid), [101, 102], 'two samples, 20 ms apart');
    assert.match(reported[0]?.[1] ?? '', /worker 101 has been stopped for 20 ms or more while the master runs/);
    // Their master has not replaced them yet: the queue waits, the window starts again at the kill.
    for (let i = 0; i < 4; i++) w.sample();
    assert.deepEqual(changes, [], 'no hang within the window after the kill');
    // Not replaced in a whole window: the node is hung after all.
    for (let i = 0; i < 3; i++) w.sample();
    assert.deepEqual(changes, ['its accept queue has not emptied for 100 ms while it slept']);
    w.stop();
  });

  it('leaves the workers of a stopped master to the hang rule', () => {
    const state = { stopped: new Set([100, 101, 102]) };
    const { w, reported, changes, look } = workerWatch(state);
    look(3);
    assert.deepEqual(reported, []);
    assert.deepEqual(changes, ['every process is stopped']);
    state.stopped = new Set([100, 102]);
    look(3);
    assert.deepEqual(reported, [], 'a stopped master cannot replace a worker');
    w.stop();
  });

  it('does not read the socket tables while the queues were empty and no connection completed its handshake', () => {
    const { root, header, listener } = fakeProcNet();
    try {
      const opens = (n: number) =>
        writeFileSync(join(root, 'net', 'snmp'), `Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails\nTcp: 1 200 120000 -1 10 ${n} 0\n`);
      assert.equal((opens(41), passiveOpens(root)), 41);
      writeFileSync(join(root, 'net', 'tcp'), [header, listener(0)].join('\n'));
      writeFileSync(join(root, 'net', 'tcp6'), header);
      const read = listenQueueReader(root);
      const sockets = new Set(['1001']);
      // The first read, and the next while the counter has not moved yet: the files are read.
      assert.equal(read(sockets).queued, 0);
      assert.equal(read(sockets).queued, 0);
      // Quiet since: a queue in the file that no handshake explains is not read.
      writeFileSync(join(root, 'net', 'tcp'), [header, listener(4)].join('\n'));
      assert.equal(read(sockets).queued, 0);
      // A connection completed its handshake: the queues are read again, and while they hold
      // connections they are read at every sample.
      opens(42);
      assert.equal(read(sockets).queued, 4);
      assert.equal(read(sockets).queued, 4);
      assert.equal(read(sockets).queued, 4);
      writeFileSync(join(root, 'net', 'tcp'), [header, listener(0)].join('\n'));
      assert.equal(read(sockets).queued, 0);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('takes the agent\'s own answered connections off the counter, and only those opened since the last read', () => {
    const { root, header, listener } = fakeProcNet();
    try {
      let passive = 100;
      const handshake = (): void =>
        writeFileSync(join(root, 'net', 'snmp'), `Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails\nTcp: 1 200 120000 -1 10 ${++passive} 0\n`);
      const queue = (n: number): void => writeFileSync(join(root, 'net', 'tcp'), [header, listener(n)].join('\n'));
      handshake();
      queue(0);
      writeFileSync(join(root, 'net', 'tcp6'), header);
      const read = listenQueueReader(root);
      const sockets = new Set(['1001']);
      const settle = (): void => {
        for (let i = 0; i < 3; i++) read(sockets);
      };
      settle();
      // Only a loopback address counts.
      assert.equal(ownOpenStarted('192.0.2.1', 4), NOT_OWN);
      assert.equal(ownOpenStarted('2001:db8::1', 6), NOT_OWN);
      assert.notEqual(ownOpenStarted('::1', 6), NOT_OWN);
      // A check's connection, opened, handed its handshake to the counter and answered between
      // two samples: the queue (which the file says is full, to show whether it is read) is not read.
      queue(5);
      const check = ownOpenStarted('127.0.0.1', 4);
      handshake();
      ownOpenAnswered(check);
      assert.equal(read(sockets).queued, 0);
      assert.equal(read(sockets).queued, 0);
      // The same, and a client's connection too: read.
      const again = ownOpenStarted('127.0.0.1', 4);
      handshake();
      handshake();
      ownOpenAnswered(again);
      assert.equal(read(sockets).queued, 5);
      queue(0);
      settle();
      // A check's connection whose handshake came before a read of the queues, answered after
      // it: that read may have seen it, so it is not taken off; with a client's connection in
      // the same interval, the queue is read.
      const early = ownOpenStarted('127.0.0.1', 4);
      handshake();
      settle();
      queue(3);
      handshake();
      ownOpenAnswered(early);
      assert.equal(read(sockets).queued, 3);
      // Not answered (a TCP check, a proxy that accepts nothing): read as any connection.
      queue(0);
      settle();
      queue(2);
      ownOpenStarted('127.0.0.1', 4);
      handshake();
      assert.equal(read(sockets).queued, 2);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

/** A /proc root of its own with a net/ directory, the header of /proc/net/tcp and a listener's line (inode 1001, port 80) with `queued` connections waiting. */
function fakeProcNet(): { root: string; header: string; listener: (queued: number) => string } {
  const root = mkdtempSync(join(tmpdir(), 'lbha-listen-'));
  mkdirSync(join(root, 'net'));
  return {
    root,
    header: '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    listener: (queued) =>
      `   0: 00000000:0050 00000000:0000 0A 00000000:0000000${queued} 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0`,
  };
}
