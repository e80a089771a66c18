import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { silentLogger, type Command, type CommandResult } from '@lbha/shared';
import { eventually } from '@lbha/test-support';
import { CommandJournal, type ActionOutcome, type CommandExecutor } from '../src/commands/command-journal.js';
import { serviceNameProblem } from '../src/commands/service-name.js';
import { JsonFile } from '../src/state/json-file.js';

class RecordingExecutor implements CommandExecutor {
  readonly runs: string[] = [];
  release: (() => void) | undefined;
  serviceNames(): readonly string[] {
    return ['nginx', 'keepalived'];
  }
  async drain(_until: number, progress: (n: number, m: string) => void): Promise<ActionOutcome> {
    this.runs.push('drain');
    progress(3, 'draining: 3 active connections');
    await new Promise<void>((r) => (this.release = r));
    return { state: 'succeeded', message: 'drained: 0 active connections', activeConnections: 0 };
  }
  async undrain(): Promise<ActionOutcome> {
    this.runs.push('undrain');
    return { state: 'succeeded', message: 'undrained', activeConnections: 0 };
  }
  async reload(service: string): Promise<ActionOutcome> {
    this.runs.push(`reload ${service}`);
    return { state: 'succeeded', message: `${service} reloaded`, activeConnections: 0 };
  }
  async restart(service: string): Promise<ActionOutcome> {
    this.runs.push(`restart ${service}`);
    return { state: 'failed', message: `${service} config does not validate; not restarted`, activeConnections: 0 };
  }
  async validate(service: string): Promise<ActionOutcome> {
    this.runs.push(`validate ${service}`);
    return { state: 'failed', message: `${service}: the configuration does not validate`, activeConnections: 0 };
  }
}

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function journal(executor = new RecordingExecutor()) {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-journal-'));
  dirs.push(dir);
  const store = new JsonFile<CommandResult[]>(join(dir, 'command-results.json'));
  return { j: new CommandJournal({ executor, store, logger: silentLogger(), defaultDrainMs: 1000 }), executor, store };
}

const cmd = (id: string, action: Command['action']): Command => ({ id, deadlineMs: 0, action });

describe('command journal', () => {
  it('acknowledges, runs once, and replays the result for a repeated id', async () => {
    const { j, executor } = journal();
    const first: CommandResult[] = [];
    j.run(cmd('c1', { kind: 'reload', service: 'nginx' }), (r) => first.push(r));
    await eventually(() => first.at(-1)?.state === 'succeeded');
    assert.deepEqual(
      first.map((r) => r.state),
      ['accepted', 'running', 'succeeded'],
    );
    assert.equal(first.at(-1)?.message, 'nginx reloaded');
    const again: CommandResult[] = [];
    j.run(cmd('c1', { kind: 'reload', service: 'nginx' }), (r) => again.push(r));
    assert.deepEqual(again, [first.at(-1)]);
    assert.deepEqual(executor.runs, ['reload nginx']);
  });

  it('lets a repeated id join a command still running instead of starting it twice', async () => {
    const { j, executor } = journal();
    const a: CommandResult[] = [];
    const b: CommandResult[] = [];
    j.run(cmd('d1', { kind: 'drain', timeoutMs: 0 }), (r) => a.push(r));
    await eventually(() => executor.release !== undefined);
    j.run(cmd('d1', { kind: 'drain', timeoutMs: 0 }), (r) => b.push(r));
    assert.equal(b[0]?.state, 'running');
    assert.equal(b[0]?.activeConnections, 3);
    executor.release!();
    await eventually(() => a.at(-1)?.state === 'succeeded' && b.at(-1)?.state === 'succeeded');
    assert.deepEqual(executor.runs, ['drain']);
  });

  it('runs a validate through the executor and reports its answer', async () => {
    const { j, executor } = journal();
    const got: CommandResult[] = [];
    j.run(cmd('v1', { kind: 'validate', service: 'nginx' }), (r) => got.push(r));
    await eventually(() => got.at(-1)?.state === 'failed');
    assert.equal(got.at(-1)?.message, 'nginx: the configuration does not validate');
    assert.deepEqual(executor.runs, ['validate nginx']);
  });

  it('remembers results across an agent restart', async () => {
    const { j, executor, store } = journal();
    const got: CommandResult[] = [];
    j.run(cmd('r1', { kind: 'restart', service: 'nginx' }), (r) => got.push(r));
    await eventually(() => got.at(-1)?.state === 'failed');
    await j.flush();
    const j2 = new CommandJournal({ executor, store, logger: silentLogger(), defaultDrainMs: 1000 });
    await j2.load();
    assert.deepEqual(j2.recent().map((r) => [r.commandId, r.state]), [['r1', 'failed']]);
    const replay: CommandResult[] = [];
    j2.run(cmd('r1', { kind: 'restart', service: 'nginx' }), (r) => replay.push(r));
    assert.equal(replay[0]?.message, 'nginx config does not validate; not restarted');
    assert.deepEqual(executor.runs, ['restart nginx']);
  });

  it('refuses service names with shell metacharacters or path characters, with a clear message', async () => {
    const { j, executor } = journal();
    for (const name of ['nginx; rm -rf /', '$(reboot)', '../../usr/sbin/nginx', '/usr/sbin/nginx', 'nginx`id`', 'nginx && true', 'nginx|cat']) {
      const got: CommandResult[] = [];
      j.run(cmd(`bad-${name}`, { kind: 'restart', service: name }), (r) => got.push(r));
      assert.equal(got.length, 1);
      assert.equal(got[0]?.state, 'rejected');
      assert.match(got[0]!.message, /^refused: service name .* contains shell metacharacters or path characters; only names of configured services are accepted \(nginx, keepalived\)$/);
    }
    assert.deepEqual(executor.runs, [], 'nothing ran');
  });

  it('refuses an unknown service and a command past its deadline', () => {
    const { j } = journal();
    const got: CommandResult[] = [];
    j.run(cmd('u1', { kind: 'reload', service: 'apache' }), (r) => got.push(r));
    assert.equal(got[0]?.state, 'rejected');
    assert.equal(got[0]?.message, 'unknown service "apache"; configured on this agent: nginx, keepalived');
    j.run(cmd('v1', { kind: 'validate', service: 'apache' }), (r) => got.push(r));
    assert.equal(got[1]?.state, 'rejected', 'validate names a configured service too');
    j.run({ id: 'late', deadlineMs: Date.now() - 5_000, action: { kind: 'undrain' } }, (r) => got.push(r));
    assert.equal(got[2]?.state, 'rejected');
    assert.match(got[2]!.message, /^deadline passed/);
  });
});

describe('service names', () => {
  it('accepts configured names only', () => {
    assert.equal(serviceNameProblem('nginx', ['nginx']), undefined);
    assert.match(serviceNameProblem('nginx\n', ['nginx']) ?? '', /shell metacharacters/);
    assert.match(serviceNameProblem('', ['nginx']) ?? '', /no service/);
  });
});
