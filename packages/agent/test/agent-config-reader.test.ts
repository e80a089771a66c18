// The agent reads its configuration through a process of its own (agent-config-reader.ts): the
// outcome must be loadAgentConfig's, valid or not, and a SIGHUP reload must apply and refuse as
// before.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Writable } from 'node:stream';
import { ConfigError, createLogger } from '@lbha/shared';
import { loadAgentConfig } from '../src/agent-config.js';
import { CONFIG_READER_SCRIPT, readAgentConfig, readAgentConfigLater } from '../src/agent-config-reader.js';
import { reloadAgent } from '../src/agent-reload.js';

const dir = mkdtempSync(join(tmpdir(), 'lbha-agent-config-reader-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const base = `node: lb1
cluster: web
coordinator: { addresses: ["127.0.0.1:7400"], backoff: { initial: 150ms } }
tls: { insecure: true }
services:
  nginx: { configFile: /etc/nginx/nginx.conf, statusUrl: "http://127.0.0.1/status" }
supervision: { restartGrace: 1s }
`;

let n = 0;
function file(text: string): string {
  const f = join(dir, `agent-${++n}.yaml`);
  writeFileSync(f, text);
  return f;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  assert.fail('did not throw');
}

describe('reading the agent configuration in another process', () => {
  it('gives the configuration loadAgentConfig gives, defaults and durations included', async () => {
    const f = file(base);
    const expected = loadAgentConfig(f);
    assert.deepEqual(readAgentConfig(f), expected);
    assert.deepEqual(await readAgentConfigLater(f), expected);
    assert.equal(expected.supervision.restartGrace, 1000);
    assert.equal(expected.coordinator.backoff.initial, 150);
  });

  it('refuses an invalid file with the same ConfigError, field and line', async () => {
    const f = file(`${base.replace('restartGrace: 1s', 'restartGrace: soon')}bogus: 1\n`);
    const expected = thrown(() => loadAgentConfig(f)) as ConfigError;
    assert.ok(expected instanceof ConfigError);
    for (const err of [thrown(() => readAgentConfig(f)), await readAgentConfigLater(f).then(() => assert.fail('resolved'), (e: unknown) => e)]) {
      assert.ok(err instanceof ConfigError, String(err));
      assert.equal(err.message, expected.message);
      assert.deepEqual(err.issues, expected.issues);
    }
    assert.match(expected.message, /agent-\d+\.yaml:7:\d+: supervision\.restartGrace: "soon" is not a duration/);
    assert.match(expected.message, /Unrecognized key\(s\) in object: 'bogus'/);
  });

  it('names a file it cannot read', () => {
    const f = join(dir, 'missing.yaml');
    const err = thrown(() => readAgentConfig(f));
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /missing\.yaml: cannot read: ENOENT/);
  });

  it('leaves the YAML parser and zod out of the agent bundle, in the reader', () => {
    const agentBundle = readFileSync(new URL('../../dist/bundle/lbha-agent.js', import.meta.url), 'utf8');
    const reader = readFileSync(CONFIG_READER_SCRIPT, 'utf8');
    // Messages of zod and of the yaml package, which minification keeps.
    for (const text of ['Unrecognized key(s) in object', 'YAMLParseError']) {
      assert.ok(reader.includes(text), `the reader has ${text}`);
      assert.ok(!agentBundle.includes(text), `the agent bundle has ${text}`);
    }
  });

  it('reloads on SIGHUP: applies log.level, refuses an invalid file and changes nothing', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = createLogger('agent', { level: 'info', destination });
    const f = file(base);
    const current = readAgentConfig(f);
    writeFileSync(f, `${base}log: { level: debug }\n`);
    const ok = await reloadAgent(current, { file: f, logger, certificates: undefined }, 'SIGHUP');
    assert.equal(ok.kind, 'reloaded');
    assert.ok(ok.kind === 'reloaded');
    assert.deepEqual(ok.applied, ['log.level']);
    assert.equal(ok.config.log.level, 'debug');
    assert.equal(logger.level, 'debug');
    writeFileSync(f, `${base}log: { level: loud }\n`);
    const refused = await reloadAgent(ok.config, { file: f, logger, certificates: undefined }, 'SIGHUP');
    assert.equal(refused.kind, 'refused');
    assert.ok(refused.kind === 'refused');
    assert.match(refused.reason, /log\.level/);
    assert.equal(logger.level, 'debug');
    assert.ok(lines.some((l) => l.includes('"event":"config.reload_refused"')));
  });
});
