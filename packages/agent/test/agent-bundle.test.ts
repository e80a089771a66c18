// What the agent's bundle leaves out of the code it takes in (scripts/agent-bundle-cuts.mjs,
// docs/design/agent-bundle.md "What is left out"): grpc-js's server side, three load-balancing
// policies, the protobuf codecs' JSON methods. That the bundled agent still does its job is
// what the integration tests that start it against a coordinator show (foundation.test.ts:
// registration, heartbeats, reconnects; cli-tls.test.ts: the same over mutual TLS with
// certificates from files); here, that the cuts are made, that what a client uses is kept, and
// that a left-out part names itself when read.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const BUNDLE = join(ROOT, 'packages/agent/dist/bundle/lbha-agent.js');

interface Cuts {
  readonly LEFT_OUT_BANNER: string;
  leftOutPlugins(): Promise<unknown[]>;
}

describe('the agent bundle', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-agent-bundle-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("has neither grpc-js's server nor the codecs' JSON methods", () => {
    const text = readFileSync(BUNDLE, 'utf8');
    // Names and messages that minification keeps: the server's bindAsync, the outlier-detection
    // policy's configuration, the codecs' JSON parsing of a message's fields.
    for (const gone of ['bindAsync', 'success_rate_ejection', '.fromJSON(', '.fromPartial(', 'globalThis.Array.isArray(object']) {
      assert.ok(!text.includes(gone), `the bundle has ${gone}`);
    }
    // Nothing in it calls a codec's create(): every create( is Object.create(.
    assert.deepEqual(text.match(/[\w$]+\.create\(/g)?.filter((m) => m !== 'Object.create(') ?? [], []);
    // What the agent's channel uses is there: the keepalive option it sets, the client constructor.
    for (const kept of ['grpc.keepalive_time_ms', 'lbha.v1.AgentService']) assert.ok(text.includes(kept), `the bundle lacks ${kept}`);
  });

  it('keeps what a client uses, and names a left-out part when it is read', async () => {
    const cuts = (await import(pathToFileURL(join(ROOT, 'scripts/agent-bundle-cuts.mjs')).href)) as Cuts;
    const outfile = join(dir, 'probe.mjs');
    // A program bundled with the agent's cuts: a codec's round trip, grpc-js's client side, and
    // each kind of left-out part read.
    const program = `
      import * as grpc from '@grpc/grpc-js';
      import { AgentServiceClient, LiveSession } from './packages/shared/dist/generated/lbha/v1/agent.js';
      const tried = (f) => { try { return String(f()); } catch (err) { return err.message; } };
      const bytes = LiveSession.encode({ node: 'lb1', sessionId: 's-1' }).finish();
      const client = new AgentServiceClient('127.0.0.1:1', grpc.credentials.createInsecure());
      client.close();
      console.log(JSON.stringify({
        roundTrip: LiveSession.decode(bytes),
        client: typeof client.connect,
        status: grpc.status.UNAVAILABLE,
        create: tried(() => LiveSession.create({ node: 'lb1' })),
        toJSON: tried(() => LiveSession.toJSON({ node: 'lb1', sessionId: '' })),
        server: tried(() => new grpc.Server()),
        serverCredentials: tried(() => grpc.ServerCredentials.createInsecure()),
      }));`;
    await build({
      stdin: { contents: program, resolveDir: ROOT, loader: 'js' },
      absWorkingDir: ROOT,
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      minify: true,
      external: ['@grpc/proto-loader'],
      banner: { js: `import { createRequire } from 'node:module'; const require = createRequire(import.meta.url); ${cuts.LEFT_OUT_BANNER}` },
      plugins: (await cuts.leftOutPlugins()) as never,
      logLevel: 'error',
    });
    const out = JSON.parse(execFileSync(process.execPath, [outfile], { encoding: 'utf8' })) as Record<string, unknown>;
    assert.deepEqual(out['roundTrip'], { node: 'lb1', sessionId: 's-1' });
    assert.equal(out['client'], 'function');
    assert.equal(out['status'], 14);
    assert.equal(out['create'], "LiveSession.create is left out of lbha-agent's bundle (scripts/bundle-agent.mjs)");
    assert.equal(out['toJSON'], "LiveSession.toJSON is left out of lbha-agent's bundle (scripts/bundle-agent.mjs)");
    assert.equal(out['server'], "@grpc/grpc-js's server.Server is left out of lbha-agent's bundle (scripts/bundle-agent.mjs)");
    assert.equal(out['serverCredentials'], "@grpc/grpc-js's server-credentials.ServerCredentials is left out of lbha-agent's bundle (scripts/bundle-agent.mjs)");
  });
});
