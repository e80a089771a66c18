import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { configChanges, ConfigError, createLogger, reloadConfig, withApplied } from '../src/index.js';

describe('configChanges', () => {
  it('splits changed settings into applied and needing a restart', () => {
    const before = { log: { level: 'info' }, grpc: { listen: ['a'] }, webhooks: [], id: 'c1' };
    const after = { log: { level: 'debug' }, grpc: { listen: ['b'] }, webhooks: [{ url: 'x' }], id: 'c1' };
    assert.deepEqual(configChanges(before, after, ['log.level', 'webhooks']), { applied: ['log.level', 'webhooks'], needRestart: ['grpc'] });
  });

  it('a partly reloadable section names the parts that need a restart', () => {
    const r = configChanges({ log: { level: 'info', format: 'json' } }, { log: { level: 'warn', format: 'text' } }, ['log.level']);
    assert.deepEqual(r, { applied: ['log.level'], needRestart: ['log.format'] });
  });

  it('nothing changed, nothing listed; keys that appear or vanish count as changes', () => {
    assert.deepEqual(configChanges({ a: 1 }, { a: 1 }, []), { applied: [], needRestart: [] });
    assert.deepEqual(configChanges({ a: 1 }, { a: 1, b: 2 }, []), { applied: [], needRestart: ['b'] });
  });

  it('withApplied takes only the applied settings from the new configuration', () => {
    const before = { log: { level: 'info', format: 'json' }, grpc: { listen: ['a'] } };
    const after = { log: { level: 'debug', format: 'text' }, grpc: { listen: ['b'] } };
    assert.deepEqual(withApplied(before, after, ['log.level']), { log: { level: 'debug', format: 'json' }, grpc: { listen: ['a'] } });
    assert.deepEqual(before.log.level, 'info', 'the old configuration is not changed');
  });
});

describe('reloadConfig', () => {
  const capture = () => {
    const lines: Array<Record<string, unknown>> = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    return { lines, logger: createLogger('test', { level: 'info', destination }) };
  };

  it('applies what it may, logs one line naming the rest, and returns the running configuration', () => {
    const { lines, logger } = capture();
    const child = logger.child({ part: 'deep' });
    const applied: string[][] = [];
    const r = reloadConfig(
      { log: { level: 'info' }, listen: 'a' },
      { file: 'x.yaml', load: () => ({ log: { level: 'debug' }, listen: 'b' }), reloadable: ['log.level'], logger, apply: (_n, a) => applied.push([...a]) },
      'SIGHUP',
    );
    assert.equal(r.kind, 'reloaded');
    assert.deepEqual(applied, [['log.level']]);
    assert.deepEqual(r.kind === 'reloaded' && r.config, { log: { level: 'debug' }, listen: 'a' });
    const line = lines.find((l) => l['event'] === 'config.reloaded');
    assert.ok(line);
    assert.deepEqual(line['needRestart'], ['listen']);
    assert.match(String(line['msg']), /applied log\.level; needs a restart to take effect: listen/);
    // apply() is the caller's; a level change through it reaches children made before.
    assert.equal(child.level, 'info');
  });

  it('a file that does not validate changes nothing and says why', () => {
    const { lines, logger } = capture();
    const r = reloadConfig(
      { a: 1 },
      {
        file: 'x.yaml',
        load: () => {
          throw new ConfigError('x.yaml', [{ path: 'a', line: 3, column: 4, message: 'must be a number' }]);
        },
        reloadable: ['a'],
        logger,
        apply: () => assert.fail('applied a refused file'),
      },
      'SIGHUP',
    );
    assert.deepEqual(r, { kind: 'refused', reason: 'x.yaml:3:4: a: must be a number' });
    assert.equal(lines.find((l) => l['event'] === 'config.reload_refused')?.['reason'], 'x.yaml:3:4: a: must be a number');
  });
});
