// Denial-of-service attempts by callers with the weakest credentials, against a real coordinator
// over real sockets (mutual TLS on loopback), while two agents keep heartbeating. What must hold:
// the agents never go stale or lose their stream, /healthz keeps answering, and each attack is
// refused or served within its bounds. The event-loop delay is printed, never asserted.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { hostileSpec, largeValidSpec, liveAgents, quiet, report, underAttack, type LiveAgents } from './support/attack-bench.js';
import { controlClient, http, startTlsCoordinator, TOKENS, unary, type TlsCoordinator } from './support/tls-coordinator.js';

describe('hostile load from read-only callers', () => {
  let c: TlsCoordinator;
  let agents: LiveAgents;

  before(async () => {
    // Messages up to 8 MiB, so the spec's own 4 MiB limit is the one a large spec meets.
    c = await startTlsCoordinator({ maxMessageBytes: 8 * 1024 * 1024 });
    agents = await liveAgents(c, ['lb1', 'lb2']);
    report('no attack (baseline)', await quiet(c));
  });
  after(async () => {
    agents.stop();
    await c.stop();
  });

  it('ValidateSpec with huge and hostile specs: agents stay live, the loop stays free', async () => {
    const hostile = hostileSpec();
    const large = largeValidSpec(1000);
    const outcomes = new Map<string, number>();
    const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
    const figures = await underAttack(c, async () => {
      const deadline = Date.now() + 8000;
      // Six read-only callers (token and certificate, gRPC and HTTP) sending as fast as answered.
      const callers = [0, 1, 2, 3, 4, 5].map(async (i) => {
        const client = controlClient(c, i % 2 === 0 ? { token: TOKENS.viewer } : { cert: c.ca.readOnly['viewer'] });
        try {
          while (Date.now() < deadline) {
            const yaml = i < 4 ? hostile : large;
            if (i === 5) {
              const r = await http(c, 'POST', '/v1/spec/validate', { token: TOKENS.viewer, contentType: 'application/yaml', body: yaml });
              count(r.status === 200 ? 'valid' : r.status === 422 ? 'invalid' : r.status === 429 ? 'refused' : `http ${r.status}`);
              continue;
            }
            const r = await unary<{ valid: boolean; errors: unknown[] }>(client, 'validateSpec', { yaml });
            if (r.ok) count(r.value.valid ? 'valid' : 'invalid');
            else if (r.code === status.RESOURCE_EXHAUSTED) {
              count('refused');
              await new Promise((res) => setTimeout(res, 50));
            } else count(r.code === status.DEADLINE_EXCEEDED ? 'deadline' : `code ${r.code}: ${r.details}`);
          }
        } finally {
          client.close();
        }
      });
      await Promise.all(callers);
    });
    report('ValidateSpec flood (4 x 330 kB hostile, 2 x 150 kB valid)', figures, `outcomes ${JSON.stringify(Object.fromEntries(outcomes))}`);
    assert.deepEqual(agents.lapses(), [], 'no agent went stale or lost its stream');
    for (const n of ['lb1', 'lb2']) assert.equal(c.server.registry.get(n)?.link, 'connected');
    assert.equal(figures.healthzFailed, 0);
    assert.ok((outcomes.get('invalid') ?? 0) > 0 && (outcomes.get('valid') ?? 0) > 0, 'both kinds were checked');
    // Waiting in the bounded queue past the caller's deadline is a refusal too.
    assert.deepEqual([...outcomes.keys()].filter((k) => !['valid', 'invalid', 'refused', 'deadline'].includes(k)), [], 'nothing but answers and refusals');
  });

  it('a spec over 4 MiB is refused before it is parsed', async () => {
    const ops = controlClient(c, { token: TOKENS.viewer });
    const r = await unary(ops, 'validateSpec', { yaml: `# ${'x'.repeat(4 * 1024 * 1024)}\nclusters: []\n` });
    ops.close();
    assert.equal(r.ok ? 0 : r.code, status.INVALID_ARGUMENT);
    assert.match(r.ok ? '' : r.details, /^yaml: the spec is \d+ bytes; at most 4194304 are accepted$/);
  });
});
