// The backend manager between its ports: a fake proxy side (what it runs, what apply does to it)
// and the report it publishes. When it applies, what it reports, and that a proxy that forgot
// the wanted states (a restart, a reload) gets them again.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger, type BackendReport, type BackendServer, type DesiredBackends, type DesiredState } from '@lbha/shared';
import { waitFor } from '@lbha/test-support';
import { BackendManager } from '../src/backends/backend-manager.js';
import type { ApplyOutcome, BackendObservation, BackendSettings, ProxyBackends } from '../src/backends/proxy-backends.js';
import { NGINX_ACTIVE_ACTIVE } from './fixtures/desired-states.js';

function server(name: string, o: Partial<BackendServer> = {}): BackendServer {
  return { pool: 'webserver', server: name, address: `10.0.0.${name.slice(3)}:80`, admin: 'ready', health: 'up', weight: 1, sessions: 0, check: 'L4OK', managed: true, ...o };
}

/** A proxy whose servers apply() changes as asked; `forget()` is a restart that loses runtime changes. */
class FakeProxy implements ProxyBackends {
  servers: BackendServer[] = [server('web1'), server('web2')];
  applies = 0;
  observes = 0;
  fail = '';

  async observe(): Promise<BackendObservation> {
    this.observes++;
    return { servers: this.servers, config: { digest: 'abc', files: [{ path: '/etc/haproxy/haproxy.cfg', digest: 'abc' }] }, error: '', readmitMs: 0 };
  }

  async apply(s: BackendSettings): Promise<ApplyOutcome> {
    this.applies++;
    if (this.fail) return { ok: false, error: this.fail };
    this.servers = this.servers.map((x) => {
      const i = s.intents.get(`${x.pool}/${x.server}`);
      return i ? { ...x, admin: i.admin, weight: i.weight ?? 1 } : x;
    });
    return { ok: true, message: 'changed' };
  }

  forget(): void {
    this.servers = this.servers.map((x) => ({ ...x, admin: 'ready', weight: 1 }));
  }
}

function desired(version: number, backends: Partial<DesiredBackends>): DesiredState {
  return { ...NGINX_ACTIVE_ACTIVE, version, backends: { pools: [], intents: [], reportIntervalMs: 60_000, driftIgnore: [], driftFiles: [], ...backends } };
}

function setup(): { proxy: FakeProxy; manager: BackendManager; reports: BackendReport[]; clock: { t: number } } {
  const proxy = new FakeProxy();
  const reports: BackendReport[] = [];
  const clock = { t: 1_000 };
  const manager = new BackendManager({ service: 'haproxy', proxy, logger: silentLogger(), now: () => clock.t, onReport: (r) => reports.push(r) });
  return { proxy, manager, reports, clock };
}

const last = (reports: readonly BackendReport[]) => reports[reports.length - 1] as BackendReport;

describe('backend manager', () => {
  it('applies each desired state once and reports it applied when the proxy runs it', async () => {
    const { proxy, manager, reports } = setup();
    manager.setDesired(desired(7, { intents: [{ pool: 'webserver', server: 'web1', admin: 'drain' }] }));
    await manager.idle();
    assert.equal(proxy.applies, 1);
    assert.equal(last(reports).appliedVersion, 7);
    assert.equal(last(reports).servers.find((s) => s.server === 'web1')?.admin, 'drain');
    assert.equal(last(reports).error, '');
    assert.equal(last(reports).configDigest, 'abc');
    manager.proxyCycled();
    await manager.idle();
    assert.equal(proxy.applies, 1, 'the proxy runs it: nothing to apply');
    manager.stop();
  });

  it('applies again when the proxy forgot the wanted states (a restart or a reload)', async () => {
    const { proxy, manager, reports } = setup();
    manager.setDesired(desired(3, { intents: [{ pool: 'webserver', server: 'web1', admin: 'maint' }, { pool: 'webserver', server: 'web2', admin: 'ready', weight: 4 }] }));
    await manager.idle();
    proxy.forget();
    manager.proxyCycled();
    await manager.idle();
    assert.equal(proxy.applies, 2);
    assert.deepEqual(last(reports).servers.map((s) => [s.server, s.admin, s.weight]), [['web1', 'maint', 1], ['web2', 'ready', 4]]);
    manager.stop();
  });

  it('reports why it could not apply, and does not retry the same settings at once', async () => {
    const { proxy, manager, reports, clock } = setup();
    proxy.fail = 'haproxy runs no server webserver/web9';
    manager.setDesired(desired(5, { intents: [{ pool: 'webserver', server: 'web9', admin: 'drain' }] }));
    await manager.idle();
    assert.equal(last(reports).error, 'haproxy runs no server webserver/web9');
    assert.equal(last(reports).appliedVersion, 0);
    manager.proxyCycled();
    await manager.idle();
    assert.equal(proxy.applies, 2, 'a proxy restart tries again');
    (manager as unknown as { kick(): void }).kick();
    await manager.idle();
    assert.equal(proxy.applies, 2, 'a periodic look within the retry delay does not');
    clock.t += 11_000;
    proxy.fail = '';
    (manager as unknown as { kick(): void }).kick();
    await manager.idle();
    assert.equal(proxy.applies, 3);
    manager.stop();
  });

  it('publishes only when something changed; the report time says when', async () => {
    const { manager, reports, clock } = setup();
    manager.setDesired(desired(1, {}));
    await manager.idle();
    const n = reports.length;
    assert.equal(last(reports).observedMs, 1_000);
    clock.t = 5_000;
    (manager as unknown as { kick(): void }).kick();
    await manager.idle();
    assert.equal(reports.length, n, 'nothing changed: nothing published');
    manager.stop();
  });

  it('looks again every 250 ms while a drained server still has sessions here', async () => {
    const { proxy, manager } = setup();
    proxy.servers = [server('web1', { sessions: 3 }), server('web2')];
    manager.setDesired(desired(2, { intents: [{ pool: 'webserver', server: 'web1', admin: 'drain' }] }));
    await manager.idle();
    const before = proxy.observes;
    // The report interval is a minute: only the draining look can come this soon.
    await waitFor('two more looks', () => (proxy.observes >= before + 2 ? { done: true, value: undefined } : { done: false, observed: `${proxy.observes - before}` }), { timeoutMs: 5_000 });
    proxy.servers = proxy.servers.map((s) => ({ ...s, sessions: 0 }));
    manager.stop();
  });
});
