// The old holder ending its handed-over connections: when the proxy can do it without a race
// (haproxy with `option idle-close-on-response`), once per handover, only once the VIP has left
// with connections remaining, and never while a command runs on the proxy. Fakes at the proxy
// port; the lab's handover-long-lived test runs it with the real haproxy and wrk.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, type ServiceState } from '@lbha/shared';
import { HandoverClose, type ClosingProxy } from '../src/net/handover-close.js';
import type { HandoverTask } from '../src/net/handover-task.js';
import { gracefulClose, haproxyFrontendsWithoutIdleClose } from '../src/services/graceful-close.js';

const HAPROXY = `global
    maxconn 4000
    stats socket /run/haproxy.sock mode 600 level admin

defaults
    mode http
    # option idle-close-on-response would be a comment here
    option idle-close-on-response
    timeout http-keep-alive 10s

frontend www
    bind *:80
    default_backend webserver

listen stats
    bind *:8404

backend webserver
    server web1 10.0.0.1:80 check
`;

describe('graceful close: what the proxy can do', () => {
  it('haproxy with the option in effect for every frontend: a reload', () => {
    assert.deepEqual(gracefulClose('haproxy', HAPROXY), { kind: 'reload' });
    const perFrontend = HAPROXY.replace('    option idle-close-on-response\n', '').replace('    bind *:80\n', '    bind *:80\n    option idle-close-on-response\n').replace('    bind *:8404\n', '    bind *:8404\n    option  idle-close-on-response  # set here\n');
    assert.deepEqual(gracefulClose('haproxy', perFrontend), { kind: 'reload' });
  });

  it('haproxy without it somewhere: nothing, and which frontends lack it', () => {
    assert.deepEqual(haproxyFrontendsWithoutIdleClose(HAPROXY.replace('    option idle-close-on-response\n', '')), ['frontend www', 'listen stats']);
    assert.deepEqual(haproxyFrontendsWithoutIdleClose(HAPROXY.replace('    bind *:80\n', '    bind *:80\n    no option idle-close-on-response\n')), ['frontend www']);
    // A later defaults section starts over.
    assert.deepEqual(haproxyFrontendsWithoutIdleClose(HAPROXY.replace('listen stats', 'defaults\n    mode http\n\nlisten stats')), ['listen stats']);
    const g = gracefulClose('haproxy', HAPROXY.replace('    option idle-close-on-response\n', ''));
    assert.equal(g.kind, 'unavailable');
    assert.match(g.kind === 'unavailable' ? g.reason : '', /no `option idle-close-on-response` in frontend www, listen stats/);
  });

  it('nginx: nothing (a reload closes idle connections under clients)', () => {
    const g = gracefulClose('nginx', 'http { server { listen 80; } }');
    assert.equal(g.kind, 'unavailable');
    assert.match(g.kind === 'unavailable' ? g.reason : '', /keepalive_time/);
  });
});

const task = (role: HandoverTask['role'], instance = 'vip-28', peer = '10.0.0.2'): HandoverTask => ({ instance, vrid: 51, interface: 'eth1', vip: '10.0.0.28', role, peer, untilMs: 0 });

function setup(config = HAPROXY) {
  const s = {
    running: [] as HandoverTask[],
    counts: new Map<string, number>(),
    busy: [] as string[],
    state: 'running' as ServiceState,
    reloads: 0,
  };
  const proxy: ClosingProxy = {
    name: 'haproxy',
    kind: 'haproxy',
    configFile: '/etc/haproxy/haproxy.cfg',
    state: () => s.state,
    reload: async () => {
      s.reloads++;
      return { ok: true, message: 'reloaded' };
    },
  };
  const close = new HandoverClose({
    running: () => s.running,
    counts: () => s.counts,
    proxy: () => proxy,
    busy: (name) => s.busy.includes(name),
    logger: createLogger('test', { level: 'silent' }),
    read: async () => config,
  });
  return { s, close };
}

describe('graceful close: when the old holder reloads', () => {
  it('once per handover, once the VIP has left with connections remaining', async () => {
    const { s, close } = setup();
    s.running = [task('outgoing')];
    await close.look();
    assert.equal(s.reloads, 0, 'not counted yet: the VIP has not left');
    s.counts.set('vip-28', 0);
    await close.look();
    assert.equal(s.reloads, 0, 'no connection left: nothing to end');
    s.counts.set('vip-28', 50);
    await close.look();
    await close.look();
    s.counts.set('vip-28', 12);
    await close.look();
    assert.equal(s.reloads, 1, 'one reload for the handover');
    // The handover ends; a later one of the same VIP to the same peer is a new one.
    s.running = [];
    await close.look();
    s.running = [task('outgoing')];
    await close.look();
    assert.equal(s.reloads, 2);
  });

  it('never on the new holder', async () => {
    const { s, close } = setup();
    s.running = [task('incoming')];
    s.counts.set('vip-28', 5);
    await close.look();
    assert.equal(s.reloads, 0);
  });

  it('not while a command runs on the proxy or the proxy is down, nor without the option', async () => {
    for (const variant of ['busy', 'down', 'no option'] as const) {
      const { s, close } = setup(variant === 'no option' ? HAPROXY.replace('    option idle-close-on-response\n', '') : HAPROXY);
      if (variant === 'busy') s.busy = ['haproxy'];
      if (variant === 'down') s.state = 'failed';
      s.running = [task('outgoing')];
      s.counts.set('vip-28', 5);
      await close.look();
      assert.equal(s.reloads, 0, variant);
    }
  });
});
