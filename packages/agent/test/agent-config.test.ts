import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseYaml } from '@lbha/shared';
import { agentConfigSchema } from '../src/agent-config.js';
import { compileAgentOptions } from '../src/agent-options.js';

const base = `node: lb1
cluster: web
coordinator: { addresses: ["127.0.0.1:7400"] }
tls: { insecure: true }
`;

describe('agent configuration', () => {
  it('derives every per-node path from stateDir and runtimeDir', () => {
    const r = parseYaml(`${base}runtimeDir: /tmp/lab/lb1/run\nservices:\n  nginx:\n    configFile: /tmp/lab/lb1/nginx.conf\n`, agentConfigSchema);
    assert.ok(r.ok);
    const o = compileAgentOptions(r.value);
    assert.equal(o.keepalived.configFile, '/tmp/lab/lb1/run/keepalived.conf');
    assert.equal(o.keepalived.notifyFifo, '/tmp/lab/lb1/run/keepalived.fifo');
    assert.equal(o.keepalived.trackDir, '/tmp/lab/lb1/run/track');
    assert.equal(o.keepalived.pidFile, '/tmp/lab/lb1/run/keepalived.pid');
    assert.equal(o.keepalived.routerId, 'lb1');
    assert.deepEqual(o.services.map((s) => [s.name, s.kind, s.binary, s.pidFile]), [['nginx', 'nginx', '/usr/sbin/nginx', '/tmp/lab/lb1/run/nginx.agent-pid']]);
    assert.equal(o.supervision.restartGraceMs, 500);
    assert.deepEqual(o.metricsListen, { host: '127.0.0.1', port: 9946 });
  });

  it('reconnects within 2 s of an unreachable coordinator by default; the ceiling is configurable', () => {
    const d = parseYaml(base, agentConfigSchema);
    assert.ok(d.ok);
    assert.deepEqual(d.value.coordinator.backoff, { initial: 200, max: 10_000, maxUnreachable: 2_000 });
    const r = parseYaml(base.replace('coordinator: { addresses: ["127.0.0.1:7400"] }', 'coordinator: { addresses: ["127.0.0.1:7400"], backoff: { maxUnreachable: 5s } }'), agentConfigSchema);
    assert.ok(r.ok);
    assert.equal(r.value.coordinator.backoff.maxUnreachable, 5_000);
    const bad = parseYaml(base.replace('coordinator: { addresses: ["127.0.0.1:7400"] }', 'coordinator: { addresses: ["127.0.0.1:7400"], backoff: { maxUnreachable: soon } }'), agentConfigSchema);
    assert.ok(!bad.ok);
    assert.ok(bad.issues.some((i) => i.path === 'coordinator.backoff.maxUnreachable'));
  });

  it('names the field and line of a mistake', () => {
    const r = parseYaml(`${base}services:\n  web:\n    configFile: etc/nginx.conf\n  nginx:\n    configFile: /etc/nginx/nginx.conf\n    statsSocket: /run/haproxy.sock\nsupervision:\n  restartGrace: soon\n`, agentConfigSchema);
    assert.equal(r.ok, false);
    assert.ok(!r.ok);
    const issues = r.issues;
    const byPath = new Map(issues.map((i) => [i.path, i]));
    assert.match(byPath.get('services.web.configFile')!.message, /absolute path/);
    assert.equal(byPath.get('services.web.configFile')!.line, 7);
    assert.match(byPath.get('supervision.restartGrace')!.message, /"soon" is not a duration/);
    assert.ok(issues.some((i) => i.path === 'services.web.kind' && /set kind/.test(i.message)));
    assert.ok(issues.some((i) => i.path === 'services.nginx.statsSocket'));
  });

  it('refuses unknown fields and a program path with shell characters', () => {
    const r = parseYaml(`${base}keepalived: { binary: "keepalived; reboot" }\nfoo: 1\n`, agentConfigSchema);
    assert.equal(r.ok, false);
    assert.ok(!r.ok);
    const text = r.issues.map((i) => `${i.path}: ${i.message}`).join('\n');
    assert.match(text, /keepalived\.binary: must be an absolute path or a program name/);
    assert.match(text, /Unrecognized key\(s\) in object: 'foo'/);
  });
});
