// The coordinator's node flags are the same wherever it is started: the shebang of the binary,
// the package's and install.sh's wrappers, and the benchmark that measures it. And they keep a
// coordinator working (the real binary starts with them).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { COORDINATOR_NODE_FLAGS, COORDINATOR_OPENSSL_FLAG } from '../src/node-flags.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const FLAGS = COORDINATOR_NODE_FLAGS.join(' ');
const BIN = join(ROOT, 'packages/coordinator/dist/src/bin/lbha-coordinator.js');

describe('the coordinator node flags', () => {
  it('are on the shebang of the binary', () => {
    const first = readFileSync(BIN, 'utf8').split('\n')[0];
    assert.equal(first, `#!/usr/bin/env -S node ${FLAGS}`);
  });

  it('are passed by the package and install wrappers, with the OpenSSL configuration the release ships', () => {
    // Each wrapper names its installed copy of packages/coordinator/openssl.cnf, which pack.sh puts there.
    const config = {
      'deploy/package.sh': '--openssl-config=/usr/lib/lbha-coordinator/packages/coordinator/openssl.cnf',
      'deploy/install.sh': String.raw`\"--openssl-config=\${self%/*/*}/lib/lbha/packages/coordinator/openssl.cnf\"`,
    };
    for (const [script, openssl] of Object.entries(config)) {
      const line = readFileSync(join(ROOT, script), 'utf8')
        .split('\n')
        .find((l) => /wrapper .*lbha-coordinator\.js/.test(l));
      assert.ok(line?.endsWith(`packages/coordinator/dist/src/bin/lbha-coordinator.js "${FLAGS} ${openssl}"`), `${script}: ${line}`);
    }
    assert.match(readFileSync(join(ROOT, 'deploy/pack.sh'), 'utf8'), /cp "packages\/\$pkg\/openssl\.cnf" "\$dst\/"/);
    assert.equal(COORDINATOR_OPENSSL_FLAG, `--openssl-config=${join(ROOT, 'packages/coordinator/openssl.cnf')}`);
  });

  it('are what bench:scale starts the coordinator with', () => {
    const bench = readFileSync(join(ROOT, 'test/bench/scale-coordinators.ts'), 'utf8');
    assert.match(bench, /settings\.shippedFlags \? \[\.\.\.COORDINATOR_NODE_FLAGS, COORDINATOR_OPENSSL_FLAG\] : \[\]/);
  });

  it('start the binary as its shebang runs it', () => {
    // The build leaves the file without its execute bit (the wrappers run it through node):
    // run what the shebang says, as the kernel would.
    const shebang = readFileSync(BIN, 'utf8').split('\n')[0] ?? '';
    const [env, ...args] = shebang.slice(2).split(' ');
    const out = execFileSync(env ?? '', [...args, BIN, '--version'], { encoding: 'utf8', env: { ...process.env, PATH: `${join(process.execPath, '..')}:${process.env.PATH ?? ''}` } });
    assert.match(out, /lbha-coordinator/);
  });

  it('are accepted by this node, with the OpenSSL configuration', () => {
    const out = execFileSync(process.execPath, [...COORDINATOR_NODE_FLAGS, COORDINATOR_OPENSSL_FLAG, BIN, '--version'], { encoding: 'utf8' });
    assert.match(out, /lbha-coordinator/);
  });
});
