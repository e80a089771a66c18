// What an agent must prove to speak for a node, and what the coordinator never discloses that
// would let another caller do it: the boot id stays secret, is not enough on its own without
// TLS, plaintext stays on loopback, and a Hello must name the node's cluster from the spec.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { credentials, status } from '@grpc/grpc-js';
import { ConfigError, PROTOCOL_VERSION, type AgentHello } from '@lbha/shared';
import { type pbControl } from '@lbha/shared/control';
import { loadCoordinatorConfig } from '../src/coordinator-config.js';
import { Registry, type AgentSession } from '../src/registry.js';
import { Harness, LB1, SEED1 } from './support/coordinator-harness.js';
import { openAgentStream } from './support/tls-coordinator.js';

function hello(node: string, bootId: string): AgentHello {
  return { node, cluster: 'web', agentVersion: '1', bootId, protocol: PROTOCOL_VERSION, appliedVersion: 0, recentResults: [] };
}

function session(id: string, peer: string): AgentSession {
  return { id, peer, sendDesiredState: () => {}, sendCommand: () => {}, close: () => {} };
}

describe('agent identity', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-identity-'));
  const harnesses: Harness[] = [];
  after(async () => {
    for (const h of harnesses) await h.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a refused second agent learns nothing about the live one', () => {
    const r = new Registry(3000, () => 1000);
    r.attach(hello('lb1', 'secret-boot-id'), session('s1', 'ipv4:10.0.0.5:4711'));
    const second = r.attach(hello('lb1', 'guess'), session('s2', 'ipv4:10.0.0.9:5000'));
    assert.deepEqual(second, { ok: false, reason: 'node lb1 is already connected; refusing a second agent with that name' });
  });

  it('without TLS, the boot id alone does not take over a live session: it must come from the same host', () => {
    const r = new Registry(3000, () => 1000);
    r.attach(hello('lb1', 'boot-a'), session('s1', 'ipv4:10.0.0.5:4711'));
    assert.equal(r.attach(hello('lb1', 'boot-a'), session('s2', 'ipv4:10.0.0.9:4711'), { samePeerHost: true }).ok, false);
    assert.equal(r.get('lb1')?.session?.id, 's1');
    assert.equal(r.attach(hello('lb1', 'boot-a'), session('s3', 'ipv4:10.0.0.5:4999'), { samePeerHost: true }).ok, true, 'the agent itself reconnecting');
  });

  it('ListNodes and GetNode show a fingerprint of the boot id, never the boot id', async () => {
    const h = await Harness.start();
    harnesses.push(h);
    await h.applySpec(SEED1);
    const a = await h.agent(LB1);
    const node = (await h.call<pbControl.GetNodeResponse>('getNode', { name: LB1 })).node;
    const list = (await h.call<pbControl.ListNodesResponse>('listNodes', { cluster: '' })).nodes;
    assert.match(node?.bootId ?? '', /^sha256:[0-9a-f]{12}$/);
    assert.equal(list[0]?.bootId, node?.bootId);
    assert.doesNotMatch(JSON.stringify([node, list]), new RegExp(a.bootId));
  });

  it('a Hello must name the cluster the spec puts the node in', async () => {
    const h = await Harness.start();
    harnesses.push(h);
    await h.applySpec(SEED1);
    const r = await openAgentStream(h.address, credentials.createInsecure(), { node: LB1, cluster: 'other' });
    assert.deepEqual(r.ok ? 'accepted' : { code: r.code, details: r.details }, {
      code: status.PERMISSION_DENIED,
      details: 'hello.cluster: node nginx-lb01 is in cluster web in the cluster spec, not other',
    });
    assert.equal(h.server.registry.get(LB1), undefined, 'nothing registered');
  });

  it('plaintext is refused on anything but loopback or a unix socket, unless allowNonLoopback says so', () => {
    const file = join(dir, 'c.yaml');
    const load = (text: string) => {
      writeFileSync(file, text);
      try {
        loadCoordinatorConfig(file);
        return 'ok';
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        return err.message;
      }
    };
    assert.match(load('grpc: { listen: ["0.0.0.0:7400"] }\ntls: { insecure: true }\n'), /grpc\.listen.*"0\.0\.0\.0:7400" is not loopback or a unix socket/);
    assert.match(load('grpc: { listen: ["127.0.0.1:7400"] }\nhttp: { listen: "10.1.2.3:8080" }\ntls: { insecure: true }\n'), /http\.listen.*"10\.1\.2\.3:8080" is not loopback/);
    for (const ok of ['127.0.0.1:7400', '[::1]:7400', 'localhost:7400', 'unix:///run/lbha/c.sock']) assert.equal(load(`grpc: { listen: ["${ok}"] }\ntls: { insecure: true }\n`), 'ok', ok);
    assert.equal(load('grpc: { listen: ["0.0.0.0:7400"] }\ntls: { insecure: true, allowNonLoopback: true }\n'), 'ok');
  });
});
