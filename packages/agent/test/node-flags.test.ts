// The agent's V8 flags are the same wherever it is started: its own shebang, the package's and
// install.sh's wrappers. And they keep an agent working (the real binary starts and answers).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { AGENT_NODE_FLAGS } from '../src/node-flags.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const FLAGS = AGENT_NODE_FLAGS.join(' ');

describe('the agent node flags', () => {
  it('are on the shebang of the built binary', () => {
    const first = readFileSync(join(ROOT, 'packages/agent/dist/src/bin/lbha-agent.js'), 'utf8').split('\n')[0];
    assert.equal(first, `#!/usr/bin/env -S node ${FLAGS}`);
  });

  it('are passed by the package and install wrappers', () => {
    for (const script of ['deploy/package.sh', 'deploy/install.sh']) {
      const line = readFileSync(join(ROOT, script), 'utf8')
        .split('\n')
        .find((l) => /wrapper .*lbha-agent\.js/.test(l));
      assert.ok(line?.endsWith(`lbha-agent.js "${FLAGS}"`), `${script}: ${line}`);
    }
  });

  it('are accepted by this node', () => {
    const out = execFileSync(process.execPath, [...AGENT_NODE_FLAGS, join(ROOT, 'packages/agent/dist/src/bin/lbha-agent.js'), '--version'], { encoding: 'utf8' });
    assert.match(out, /lbha-agent/);
  });
});
