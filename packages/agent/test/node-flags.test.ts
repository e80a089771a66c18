// The agent's V8 flags and environment are the same wherever it is started: the shebang of the
// bundle that ships (and of the module it is built from), the package's and install.sh's
// wrappers. And they keep an agent working (the real binary starts and answers).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { AGENT_ENV, AGENT_NODE_FLAGS } from '../src/node-flags.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const FLAGS = AGENT_NODE_FLAGS.join(' ');
const ENV = Object.entries(AGENT_ENV).map(([k, v]) => `${k}=${v}`).join(' ');
const BUNDLE = join(ROOT, 'packages/agent/dist/bundle/lbha-agent.js');

describe('the agent node flags', () => {
  it('are on the shebang of the bundle and of the module it is built from', () => {
    for (const file of [BUNDLE, join(ROOT, 'packages/agent/dist/src/bin/lbha-agent.js')]) {
      const first = readFileSync(file, 'utf8').split('\n')[0];
      assert.equal(first, `#!/usr/bin/env -S ${ENV} node ${FLAGS}`, file);
    }
  });

  it('are passed by the package and install wrappers, which run the bundle', () => {
    for (const script of ['deploy/package.sh', 'deploy/install.sh']) {
      const line = readFileSync(join(ROOT, script), 'utf8')
        .split('\n')
        .find((l) => /wrapper .*lbha-agent\.js/.test(l));
      assert.ok(line?.endsWith(`packages/agent/dist/bundle/lbha-agent.js "${FLAGS}" "${ENV}"`), `${script}: ${line}`);
    }
  });

  it('are accepted by this node', () => {
    const out = execFileSync(process.execPath, [...AGENT_NODE_FLAGS, BUNDLE, '--version'], { encoding: 'utf8' });
    assert.match(out, /lbha-agent/);
  });

  it('start the bundle run as a program, through its shebang', () => {
    // The bundle run as a program: env -S sets the environment, then node with the flags.
    const out = execFileSync(BUNDLE, ['--version'], { encoding: 'utf8', env: { ...process.env, PATH: `${join(process.execPath, '..')}:${process.env.PATH ?? ''}` } });
    assert.match(out, /lbha-agent/);
  });
});

describe('the agent bundle', () => {
  it('maps its code back to the TypeScript sources through the map beside it', () => {
    const code = readFileSync(BUNDLE, 'utf8');
    assert.ok(code.endsWith('\n//# sourceMappingURL=lbha-agent.js.map\n'), 'the bundle names its map');
    const map = new SourceMap(JSON.parse(readFileSync(`${BUNDLE}.map`, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]);
    // A string only the binary's main() logs: where it sits in the bundle maps to that file.
    const lines = code.split('\n');
    const line = lines.findIndex((l) => l.includes('"agent.started"'));
    assert.ok(line >= 0, 'the bundle logs agent.started');
    const entry = map.findEntry(line, (lines[line] as string).indexOf('"agent.started"'));
    assert.ok('originalSource' in entry, 'the position has a mapping');
    assert.equal(entry.originalSource, '../../src/bin/lbha-agent.ts');
  });

  it('leaves out code the agent never runs: proto-loader and the operator API', () => {
    const code = readFileSync(BUNDLE, 'utf8');
    // grpc-js asks for @grpc/proto-loader only to serve channelz or ORCA: left to node_modules.
    assert.ok(code.includes('("@grpc/proto-loader")'), 'proto-loader is required at run time, not bundled');
    const sources = (JSON.parse(readFileSync(`${BUNDLE}.map`, 'utf8')) as { sources: string[] }).sources;
    assert.ok(!sources.some((s) => s.includes('protobufjs')), 'protobufjs is not bundled');
    assert.ok(!sources.some((s) => /generated\/lbha\/v1\/control/.test(s)), "the operator API's generated code is not bundled");
  });
});
