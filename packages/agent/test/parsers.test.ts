import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseNotifyLine } from '../src/keepalived/notify-fifo.js';
import { parseIpAddrJson } from '../src/net/address-watcher.js';
import { parseShowStat, statsFromHaproxy } from '../src/services/haproxy-stats.js';
import { parseStubStatus } from '../src/services/nginx-stats.js';
import { parseShow } from '../src/services/systemd-supervisor.js';

describe('keepalived notify FIFO lines', () => {
  it('parses instance and group states with the priority', () => {
    assert.deepEqual(parseNotifyLine('INSTANCE "VI_1" MASTER 120'), { kind: 'state', scope: 'instance', name: 'VI_1', state: 'master', priority: 120 });
    assert.deepEqual(parseNotifyLine('INSTANCE "vip-28" FAULT 150\n'), { kind: 'state', scope: 'instance', name: 'vip-28', state: 'fault', priority: 150 });
    assert.deepEqual(parseNotifyLine('GROUP "g1" BACKUP 0'), { kind: 'state', scope: 'group', name: 'g1', state: 'backup', priority: 0 });
    assert.deepEqual(parseNotifyLine('INSTANCE "VI_1" MASTER_RX_LOWER_PRI 120'), { kind: 'lower-priority-advert', name: 'VI_1', priority: 120 });
    assert.equal(parseNotifyLine('INSTANCE "VI_1" MASTER_PRIORITY 120'), undefined);
    assert.equal(parseNotifyLine('garbage'), undefined);
  });
});

describe('ip -j addr', () => {
  it('maps interfaces to their addresses', () => {
    const m = parseIpAddrJson(
      JSON.stringify([
        { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] },
        { ifname: 'eth1', addr_info: [{ local: '10.77.0.1', prefixlen: 24 }, { local: '10.77.0.100', prefixlen: 24 }] },
      ]),
    );
    assert.deepEqual([...(m.get('eth1') ?? [])], ['10.77.0.1/24', '10.77.0.100/24']);
    assert.equal(parseIpAddrJson('not json').size, 0);
  });
});

describe('proxy stats', () => {
  it('reads nginx stub_status, not counting its own connection', () => {
    const s = parseStubStatus('Active connections: 3 \nserver accepts handled requests\n 16 16 18 \nReading: 0 Writing: 1 Waiting: 2 \n');
    assert.deepEqual(s, { activeConnections: 2, requestsTotal: 18, currentSessions: 2, serverStates: {} });
    assert.equal(parseStubStatus('<html>'), undefined);
  });

  it('reads haproxy show info and show stat', () => {
    const info = 'Name: HAProxy\nVersion: 2.6.12\nCurrConns: 4\nCumReq: 1234\n';
    const stat = '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status\nweb,FRONTEND,,,0,0,0,0,0,0,0,0,0,,,,,OPEN\nweb_back,web1,0,0,2,2,,5,0,0,,0,,0,0,0,0,UP\nweb_back,web2,0,0,0,0,,5,0,0,,0,,0,0,0,0,DOWN\nweb_back,BACKEND,0,0,2,2,,10,0,0,0,0,,0,0,0,0,UP\n';
    assert.deepEqual(parseShowStat(stat), { 'web_back/web1': 'UP', 'web_back/web2': 'DOWN' });
    assert.deepEqual(statsFromHaproxy(info, stat), { activeConnections: 4, requestsTotal: 1234, currentSessions: 4, serverStates: { 'web_back/web1': 'UP', 'web_back/web2': 'DOWN' } });
  });

  it('reads systemctl show', () => {
    assert.deepEqual(parseShow('ActiveState=active\nSubState=running\nMainPID=4242\n'), { activeState: 'active', subState: 'running', mainPid: 4242 });
  });
});
