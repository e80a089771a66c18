import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HEALTHY, unhealthy, unknown, type CheckResult, type CheckSpec, type CheckStatus } from '@lbha/shared';
import { eventually } from '@lbha/test-support';
import { withDefaults } from '../src/checks/check-defaults.js';
import { CheckRunner } from '../src/checks/check-runner.js';
import { httpProbe } from '../src/checks/http-probe.js';
import { Hysteresis } from '../src/checks/hysteresis.js';
import { interfaceProbe } from '../src/checks/interface-probe.js';
import { maintenanceFileProbe } from '../src/checks/maintenance-file-probe.js';
import type { Probe, ProbeEmit } from '../src/checks/probe.js';
import { processProbe, type ServiceLiveness } from '../src/checks/process-probe.js';
import { tcpProbe } from '../src/checks/tcp-probe.js';
import { parseMonitorLine, type NetlinkEvent } from '../src/net/netlink-monitor.js';

const BAD = unhealthy('refused');

describe('fall/rise hysteresis', () => {
  it('takes the first result as it is', () => {
    assert.deepEqual(new Hysteresis(3, 2).push(BAD), BAD);
    assert.deepEqual(new Hysteresis(3, 2).push(HEALTHY), HEALTHY);
  });

  it('turns failing only after `fall` failures in a row', () => {
    const h = new Hysteresis(3, 2);
    h.push(HEALTHY);
    assert.equal(h.push(BAD).kind, 'healthy');
    assert.equal(h.push(BAD).kind, 'healthy');
    assert.equal(h.push(HEALTHY).kind, 'healthy', 'a success resets the count');
    assert.equal(h.push(BAD).kind, 'healthy');
    assert.equal(h.push(BAD).kind, 'healthy');
    assert.deepEqual(h.push(BAD), BAD);
    assert.equal(h.streak, 3);
  });

  it('turns healthy only after `rise` successes in a row', () => {
    const h = new Hysteresis(1, 3);
    h.push(BAD);
    assert.equal(h.push(HEALTHY).kind, 'unhealthy');
    assert.equal(h.push(HEALTHY).kind, 'unhealthy');
    assert.equal(h.push(BAD).kind, 'unhealthy');
    assert.equal(h.push(HEALTHY).kind, 'unhealthy');
    assert.equal(h.push(HEALTHY).kind, 'unhealthy');
    assert.equal(h.push(HEALTHY).kind, 'healthy');
  });

  it('counts unknown (timeouts) as failures and keeps the freshest reason', () => {
    const h = new Hysteresis(2, 1);
    h.push(HEALTHY);
    h.push(unknown('timed out'));
    assert.deepEqual(h.push(unknown('timed out')), unknown('timed out'));
    assert.deepEqual(h.push(BAD), BAD);
  });

  it('says when a change is being confirmed: results against the verdict, not yet enough of them', () => {
    const h = new Hysteresis(3, 2);
    assert.equal(h.confirming, false, 'no verdict yet');
    h.push(HEALTHY);
    assert.equal(h.confirming, false);
    h.push(BAD);
    h.push(BAD);
    assert.equal(h.confirming, true, 'two of three failures');
    h.push(BAD);
    assert.equal(h.confirming, false, 'the failure is the verdict now');
    h.push(HEALTHY);
    assert.equal(h.confirming, true, 'one of two successes');
    h.push(BAD);
    assert.equal(h.confirming, false, 'the success was not confirmed');
    h.push(HEALTHY);
    h.push(HEALTHY);
    assert.equal(h.confirming, false);
  });

  it('lets a definitive event skip the count', () => {
    const h = new Hysteresis(5, 5);
    h.push(HEALTHY);
    assert.deepEqual(h.push(unhealthy('exited'), true), unhealthy('exited'));
    assert.equal(h.push(HEALTHY, true).kind, 'healthy');
  });
});

function spec(over: Partial<CheckSpec> = {}): CheckSpec {
  return withDefaults({
    name: 'c',
    intervalMs: 20,
    timeoutMs: 50,
    fall: 1,
    rise: 1,
    effect: 'fault',
    penalty: 0,
    params: { kind: 'tcp', host: '127.0.0.1', port: 1 },
    ...over,
  });
}

function collect(): { changes: CheckStatus[]; observer: { onChange: (s: CheckStatus) => void } } {
  const changes: CheckStatus[] = [];
  return { changes, observer: { onChange: (s) => changes.push(s) } };
}

describe('check runner', () => {
  it('reports a probe that exceeds its timeout as unknown', async () => {
    const hang: Probe = { probe: (signal) => new Promise((resolve) => signal.addEventListener('abort', () => resolve(HEALTHY))) };
    const { changes, observer } = collect();
    const r = new CheckRunner(spec({ timeoutMs: 30 }), hang, observer);
    r.start();
    await eventually(() => changes.length > 0);
    r.stop();
    assert.deepEqual(changes[0]!.result, unknown('timed out after 30ms'));
  });

  it('reports only changes of the verdict, not every result', async () => {
    let n = 0;
    const flapping: Probe = { probe: async () => (++n < 4 ? HEALTHY : n < 12 ? BAD : HEALTHY) };
    const { changes, observer } = collect();
    const r = new CheckRunner(spec({ intervalMs: 20, fall: 3, rise: 2 }), flapping, observer);
    r.start();
    await eventually(() => n >= 16);
    r.stop();
    assert.deepEqual(
      changes.map((c) => c.result.kind),
      ['healthy', 'unhealthy', 'healthy'],
    );
  });

  it('turns events into verdicts at once, without waiting for the interval', async () => {
    let emit: ProbeEmit | undefined;
    const probe: Probe = {
      probe: async () => HEALTHY,
      watch: (e) => {
        emit = e;
        return () => (emit = undefined);
      },
    };
    const { changes, observer } = collect();
    const r = new CheckRunner(spec({ intervalMs: 60_000, fall: 3 }), probe, observer);
    r.start();
    await eventually(() => changes.length === 1);
    emit!(unhealthy('exited'), true);
    assert.deepEqual(changes[1]?.result, unhealthy('exited'));
    r.stop();
    assert.equal(emit, undefined, 'stop unsubscribes the watcher');
  });

  it('keeps the verdict when the probe has no news', async () => {
    let answer: CheckResult | undefined = HEALTHY;
    let runs = 0;
    const probe: Probe = {
      probe: async () => {
        runs++;
        return answer;
      },
    };
    const { changes, observer } = collect();
    const r = new CheckRunner(spec({ intervalMs: 10 }), probe, observer);
    r.start();
    await eventually(() => changes.length === 1);
    answer = undefined;
    const before = runs;
    await eventually(() => runs > before + 3);
    r.stop();
    assert.equal(changes.length, 1);
    assert.equal(r.status().result.kind, 'healthy');
  });
  it('waits a timeout out in full, drops the late answer of the probe it abandoned, and probes on', async () => {
    const signals: AbortSignal[] = [];
    let late: (() => void) | undefined;
    const probe: Probe = {
      probe: (signal) => {
        signals.push(signal);
        // The first probe ignores its abort and answers healthy later; the others fail at once.
        if (signals.length === 1) return new Promise((resolve) => (late = () => resolve(HEALTHY)));
        return Promise.resolve(BAD);
      },
    };
    const results: CheckResult[] = [];
    const { changes } = collect();
    const r = new CheckRunner(spec({ intervalMs: 20, timeoutMs: 40 }), probe, {
      onResult: (_n, result) => results.push(result),
      onChange: (s) => changes.push(s),
    });
    r.start();
    await eventually(() => results.length >= 3, 'the timeout and two probes after it');
    late!();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const nextAborted = signals[1]?.aborted;
    r.stop();
    assert.deepEqual(changes[0]?.result, unknown('timed out after 40ms'));
    assert.ok(changes[0]!.durationMs >= 40, `timed out after ${changes[0]!.durationMs} ms, not before its 40`);
    assert.equal(signals[0]?.aborted, true, 'the abandoned probe was aborted');
    assert.equal(nextAborted, false, 'the next probe has a live signal');
    assert.ok(!results.some((x) => x.kind === 'healthy'), 'the late answer of the abandoned probe is not a result');
    assert.deepEqual(r.status().result, BAD);
  });

  it('reports a probe that throws or rejects as unknown, and keeps probing', async () => {
    let n = 0;
    const probe: Probe = {
      probe: () => {
        n++;
        if (n === 1) throw new Error('no such thing');
        if (n === 2) return Promise.reject(new Error('went wrong'));
        return Promise.resolve(HEALTHY);
      },
    };
    const { changes, observer } = collect();
    const r = new CheckRunner(spec({ intervalMs: 20, fall: 1, rise: 1 }), probe, observer);
    r.start();
    await eventually(() => changes.length >= 3);
    r.stop();
    assert.deepEqual(
      changes.map((c) => c.result),
      [unknown('probe failed: no such thing'), unknown('probe failed: went wrong'), HEALTHY],
    );
  });

  it('probes once per interval, each after the previous one ended, never two at a time', async () => {
    const starts: number[] = [];
    let inFlight = 0;
    let most = 0;
    const probe: Probe = {
      probe: () =>
        new Promise((resolve) => {
          starts.push(performance.now());
          most = Math.max(most, ++inFlight);
          setTimeout(() => {
            inFlight--;
            resolve(HEALTHY);
          }, 5);
        }),
    };
    const { observer } = collect();
    const r = new CheckRunner(spec({ intervalMs: 60, timeoutMs: 50 }), probe, observer);
    r.start();
    await eventually(() => starts.length >= 5);
    r.stop();
    assert.equal(most, 1);
    // The next probe is due one interval after the previous one started; the agent's tick grid
    // may move it up to 8 ms, and its timers fire up to 2 ms early. Later is the machine.
    for (let i = 1; i < starts.length; i++) assert.ok(starts[i]! - starts[i - 1]! >= 50, `gap ${starts[i]! - starts[i - 1]!} ms`);
  });

  it('is quiet only with no probe in flight and no change being confirmed', async () => {
    const answers: ((r: CheckResult) => void)[] = [];
    const probe: Probe = { probe: () => new Promise((resolve) => answers.push(resolve)) };
    const { changes, observer } = collect();
    // Probes only when asked (runNow), so that none starts between the steps.
    const r = new CheckRunner(spec({ intervalMs: 60_000, timeoutMs: 30_000, fall: 2 }), probe, observer);
    r.start();
    await eventually(() => answers.length === 1);
    assert.equal(r.quiet, false, 'a probe in flight');
    answers[0]!(HEALTHY);
    await eventually(() => changes.length === 1);
    assert.equal(r.quiet, true, 'answered, and the verdict agrees');
    r.runNow();
    await eventually(() => answers.length === 2);
    answers[1]!(BAD);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(r.quiet, false, 'one failure of two: confirming');
    r.runNow();
    await eventually(() => answers.length === 3);
    answers[2]!(HEALTHY);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(r.quiet, true, 'the failure was not confirmed');
    r.stop();
    assert.deepEqual(changes.map((c) => c.result.kind), ['healthy']);
  });

  it('starts probing again after a stop that abandoned a probe in flight', async () => {
    let runs = 0;
    const answers: ((r: CheckResult) => void)[] = [];
    const probe: Probe = {
      probe: () => {
        runs++;
        return new Promise((resolve) => answers.push(resolve));
      },
    };
    const { changes, observer } = collect();
    const r = new CheckRunner(spec({ intervalMs: 20, timeoutMs: 10_000 }), probe, observer);
    r.start();
    await eventually(() => runs === 1);
    r.stop();
    r.start();
    await eventually(() => runs === 2, 'a new probe although the first never answered');
    answers[0]!(BAD);
    answers[1]!(HEALTHY);
    await eventually(() => changes.length === 1);
    r.stop();
    assert.deepEqual(changes[0]?.result, HEALTHY, 'the abandoned probe\'s answer is dropped');
  });
});

describe('probes', () => {
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'lbha-probe-'));
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('http: checks status, body and the Host header', async () => {
    const server = createServer((req, res) => {
      if (req.headers.host !== 'www.example.test') return void res.writeHead(421).end('wrong host');
      res.writeHead(req.url === '/health' ? 200 : 503).end('all good');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const base = { method: 'GET', host: 'www.example.test', expectStatus: 200, bodyContains: '', tlsVerify: true };
    const signal = new AbortController().signal;
    try {
      assert.deepEqual(await httpProbe({ ...base, url: `http://127.0.0.1:${port}/health` }).probe(signal), HEALTHY);
      assert.deepEqual(await httpProbe({ ...base, url: `http://127.0.0.1:${port}/health`, bodyContains: 'good' }).probe(signal), HEALTHY);
      const body = await httpProbe({ ...base, url: `http://127.0.0.1:${port}/health`, bodyContains: 'ready' }).probe(signal);
      assert.match((body as { reason: string }).reason, /body does not contain "ready"/);
      const status = await httpProbe({ ...base, url: `http://127.0.0.1:${port}/other` }).probe(signal);
      assert.match((status as { reason: string }).reason, /returned 503, expected 200/);
      const host = await httpProbe({ ...base, host: 'other.test', url: `http://127.0.0.1:${port}/health` }).probe(signal);
      assert.match((host as { reason: string }).reason, /returned 421/);
    } finally {
      server.close();
    }
    const refused = await httpProbe({ ...base, url: `http://127.0.0.1:${port}/health` }).probe(signal);
    assert.match((refused as { reason: string }).reason, /ECONNREFUSED/);
  });

  it('tcp: healthy when the port accepts, unhealthy when refused', async () => {
    const server = createNetServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const signal = new AbortController().signal;
    assert.deepEqual(await tcpProbe('127.0.0.1', port).probe(signal), HEALTHY);
    await new Promise<void>((r) => server.close(() => r()));
    assert.match(((await tcpProbe('127.0.0.1', port).probe(signal)) as { reason: string }).reason, /ECONNREFUSED/);
  });

  it('maintenance file: presence is unhealthy, and creation and removal are events', async () => {
    const dir = tmp();
    const file = join(dir, 'down');
    const probe = maintenanceFileProbe(file);
    const signal = new AbortController().signal;
    assert.deepEqual(await probe.probe(signal), HEALTHY);
    const events: Array<[CheckResult, boolean]> = [];
    const stop = probe.watch!((r, d) => events.push([r, d]));
    try {
      writeFileSync(file, '');
      await eventually(() => events.some(([r]) => r.kind === 'unhealthy'));
      assert.ok(events.every(([, definitive]) => definitive));
      rmSync(file);
      await eventually(() => events.at(-1)?.[0].kind === 'healthy');
    } finally {
      stop();
    }
  });

  it('interface: reads link, carrier and operstate from sysfs, confirms netlink events', async () => {
    const root = tmp();
    const setLink = (name: string, flags: string, carrier: string, operstate: string): void => {
      mkdirSync(join(root, name), { recursive: true });
      writeFileSync(join(root, name, 'flags'), `${flags}\n`);
      writeFileSync(join(root, name, 'carrier'), `${carrier}\n`);
      writeFileSync(join(root, name, 'operstate'), `${operstate}\n`);
    };
    setLink('eth2', '0x1003', '1', 'up');
    const listeners = new Set<(e: NetlinkEvent) => void>();
    const events = { subscribe: (l: (e: NetlinkEvent) => void) => (listeners.add(l), () => listeners.delete(l)) };
    const probe = interfaceProbe('eth2', events, root);
    const signal = new AbortController().signal;
    assert.deepEqual(await probe.probe(signal), HEALTHY);
    const got: Array<[CheckResult, boolean]> = [];
    const stop = probe.watch!((r, d) => got.push([r, d]));
    setLink('eth2', '0x1003', '0', 'lowerlayerdown');
    for (const l of listeners) l({ type: 'link', ifname: 'eth2', deleted: false });
    await eventually(() => got.length === 1);
    assert.deepEqual(got[0], [unhealthy('interface eth2 has no carrier'), true]);
    setLink('eth2', '0x1002', '0', 'down');
    assert.deepEqual(await probe.probe(signal), unhealthy('interface eth2 is administratively down'));
    assert.deepEqual(await interfaceProbe('eth9', undefined, root).probe(signal), unhealthy('interface eth9 does not exist'));
    stop();
    assert.equal(listeners.size, 0);
  });

  it('process: follows the supervisor and holds its verdict while a restart is in its grace', async () => {
    let state: ReturnType<ServiceLiveness['liveness']>['state'] = 'running';
    const listeners = new Set<() => void>();
    const svc: ServiceLiveness = {
      name: 'nginx',
      liveness: () => ({ state, lastError: state === 'failed' ? 'config does not validate' : '' }),
      onLiveness: (l) => (listeners.add(l), () => listeners.delete(l)),
    };
    const { changes, observer } = collect();
    const probe = processProbe(svc);
    let runs = 0;
    const counted: Probe = { probe: (signal) => (runs++, probe.probe(signal)), watch: probe.watch };
    const r = new CheckRunner(spec({ intervalMs: 10, params: { kind: 'process', service: 'nginx' } }), counted, observer);
    r.start();
    await eventually(() => changes.length === 1);
    state = 'starting';
    for (const l of listeners) l();
    const seen = runs;
    await eventually(() => runs >= seen + 3, 'three probe runs while the service restarts');
    assert.equal(r.status().result.kind, 'healthy', 'a restart in place is not a failure yet');
    state = 'failed';
    for (const l of listeners) l();
    assert.deepEqual(r.status().result, unhealthy('nginx is down: config does not validate'));
    r.stop();
  });
});

describe('netlink monitor lines', () => {
  it('parses link and address lines of ip -o monitor', () => {
    assert.deepEqual(parseMonitorLine('3: eth1@eth2: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state LOWERLAYERDOWN group default \\    link/ether 06:d5'), {
      type: 'link',
      ifname: 'eth1',
      deleted: false,
    });
    assert.deepEqual(parseMonitorLine('Deleted 2: eth2    inet6 fe80::74f3/64 scope link'), { type: 'address', ifname: 'eth2', deleted: true });
    assert.deepEqual(parseMonitorLine('3: eth1    inet 10.1.1.1/24 scope global eth1\\       valid_lft forever'), { type: 'address', ifname: 'eth1', deleted: false });
    assert.equal(parseMonitorLine('something else'), undefined);
  });
});
