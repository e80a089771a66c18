import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '@lbha/shared';
import { nginxSpec } from '../src/services/daemon-spec.js';
import { SystemdSupervisor } from '../src/services/systemd-supervisor.js';
import type { CommandOutcome, CommandRunner } from '../src/util/run-command.js';

function fakeSystemctl(opts: { configValid: boolean }) {
  const calls: string[][] = [];
  let active = false;
  const out = (exitCode: number, stdout = ''): CommandOutcome => ({ exitCode, output: stdout, stdout, timedOut: false, spawnError: undefined });
  const run: CommandRunner = async (file, args) => {
    calls.push([file, ...args]);
    if (file === '/usr/sbin/nginx') return opts.configValid ? out(0, 'syntax is ok') : out(1, 'nginx: [emerg] unexpected end of file');
    switch (args[0]) {
      case 'show':
        // The agent's own pid stands in for nginx's main pid: it is alive.
        return out(0, `ActiveState=${active ? 'active' : 'inactive'}\nSubState=${active ? 'running' : 'dead'}\nMainPID=${active ? process.pid : 0}\n`);
      case 'start':
      case 'restart':
        active = true;
        return out(0);
      case 'stop':
        active = false;
        return out(0);
      case 'reload':
        return out(0);
      default:
        return out(1, 'unknown');
    }
  };
  return { run, calls };
}

function supervisor(run: CommandRunner): SystemdSupervisor {
  return new SystemdSupervisor({
    name: 'nginx',
    spec: nginxSpec({ binary: '/usr/sbin/nginx', configFile: '/etc/nginx/nginx.conf', prefix: '', errorLog: '' }),
    unit: 'nginx.service',
    systemctl: 'systemctl',
    pollMs: 50,
    refreshMs: 1_000,
    run,
    stats: async () => undefined,
    logger: silentLogger(),
  });
}

describe('systemd supervisor', () => {
  it('drives the unit with systemctl argument arrays and reads its state', async () => {
    const f = fakeSystemctl({ configValid: true });
    const s = supervisor(f.run);
    try {
      assert.equal(await s.adopt(), false);
      assert.equal((await s.start()).ok, true);
      assert.equal(s.status().running, true);
      assert.equal(s.status().pid, process.pid);
      assert.equal((await s.reload()).ok, true);
      assert.deepEqual(
        f.calls.filter((c) => c[0] === 'systemctl' && c[1] !== 'show'),
        [
          ['systemctl', 'start', 'nginx.service'],
          ['systemctl', 'reload', 'nginx.service'],
        ],
      );
      assert.deepEqual(f.calls.find((c) => c[0] === '/usr/sbin/nginx'), ['/usr/sbin/nginx', '-t', '-c', '/etc/nginx/nginx.conf']);
    } finally {
      s.close();
    }
  });

  it('refuses reload and restart when nginx -t fails, without calling systemctl', async () => {
    const f = fakeSystemctl({ configValid: false });
    const s = supervisor(f.run);
    try {
      const r = await s.restart();
      assert.equal(r.ok, false);
      assert.match(r.message, /nginx config does not validate; not restarted: nginx: \[emerg\] unexpected end of file/);
      assert.equal((await s.reload()).ok, false);
      assert.ok(!f.calls.some((c) => c[0] === 'systemctl'));
    } finally {
      s.close();
    }
  });
});
