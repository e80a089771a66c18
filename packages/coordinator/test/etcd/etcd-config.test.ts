import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { coordinatorConfigSchema } from '../../src/coordinator-config.js';
import { prefixEnd } from '../../src/etcd/etcd-store.js';

const base = { grpc: { listen: ['127.0.0.1:0'] }, tls: { insecure: true } };
const parse = (store: unknown) => coordinatorConfigSchema.safeParse({ ...base, ...(store === undefined ? {} : { store }) });
const problems = (store: unknown) => {
  const r = parse(store);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('store configuration', () => {
  it('defaults to the file store, also written as a bare word', () => {
    assert.deepEqual(parse(undefined).data?.store, { kind: 'file' });
    assert.deepEqual(parse('file').data?.store, { kind: 'file' });
    assert.deepEqual(parse({ kind: 'file' }).data?.store, { kind: 'file' });
  });

  it('fills the etcd defaults', () => {
    const r = parse({ kind: 'etcd', endpoints: ['http://10.0.0.1:2379', 'http://10.0.0.2:2379/'] });
    assert.ok(r.success, JSON.stringify(r.error?.issues));
    assert.deepEqual(r.data.store, {
      kind: 'etcd',
      endpoints: ['http://10.0.0.1:2379', 'http://10.0.0.2:2379/'],
      prefix: '/lbha/',
      leaseTtl: 5000,
      requestTimeout: 1000,
      maxRequestBytes: 1_572_864,
      advertise: {},
    });
  });

  it('takes durations, TLS and advertised addresses', () => {
    const r = parse({
      kind: 'etcd',
      endpoints: ['https://etcd1:2379'],
      prefix: '/prod/lbha/',
      leaseTtl: '3s',
      requestTimeout: '500ms',
      maxRequestBytes: 10_485_760,
      tls: { ca: '/etc/lbha/etcd-ca.pem', cert: '/etc/lbha/etcd.pem', key: '/etc/lbha/etcd-key.pem' },
      advertise: { grpc: 'coord1.example:7400' },
    });
    assert.ok(r.success, JSON.stringify(r.error?.issues));
    assert.equal(r.data.store.kind === 'etcd' && r.data.store.leaseTtl, 3000);
    assert.equal(r.data.store.kind === 'etcd' && r.data.store.maxRequestBytes, 10_485_760);
  });

  it('refuses what would not work, naming the field', () => {
    assert.deepEqual(problems({ kind: 'etcd', endpoints: [] }), ['store.endpoints: Array must contain at least 1 element(s)']);
    assert.match(problems({ kind: 'etcd', endpoints: ['etcd1:2379'] })[0]!, /^store\.endpoints\.0: must be http/);
    assert.match(problems({ kind: 'etcd', endpoints: ['http://e:2379'], prefix: 'lbha' })[0]!, /^store\.prefix: must start and end with "\/"/);
    assert.match(problems({ kind: 'etcd', endpoints: ['http://e:2379'], leaseTtl: '2s', requestTimeout: '1s' })[0]!, /^store\.requestTimeout: must be at most a third of leaseTtl/);
    assert.match(problems({ kind: 'etcd', endpoints: ['http://e:2379'], maxRequestBytes: 65_536 })[0]!, /^store\.maxRequestBytes: Number must be greater than or equal to 1048576/);
    assert.match(problems({ kind: 'etcd', endpoints: ['https://e:2379'] })[0]!, /^store\.tls: https:\/\/ endpoints need tls\.ca/);
    assert.match(problems({ kind: 'etcd', endpoints: ['http://e:2379'], tls: { ca: '/ca.pem' } })[0]!, /^store\.endpoints: tls is set/);
    assert.match(problems({ kind: 'etcd', endpoints: ['https://e:2379'], tls: { ca: '/ca.pem', cert: '/c.pem' } })[0]!, /^store\.tls\.key: cert and key go together/);
    assert.match(problems({ kind: 'etcd', endpoints: ['http://e:2379'], ttl: 5 })[0]!, /Unrecognized key/);
    assert.match(problems({ kind: 'zookeeper' })[0]!, /^store\.kind: Invalid discriminator value/);
  });
});

describe('prefixEnd', () => {
  it('is the first key after every key with the prefix', () => {
    assert.deepEqual(prefixEnd(Buffer.from('/lbha/data/')), Buffer.from('/lbha/data0'));
    assert.deepEqual(prefixEnd(Buffer.from([0x61, 0xff])), Buffer.from([0x62]));
    assert.deepEqual(prefixEnd(Buffer.from([0xff])), Buffer.from([0]));
  });
});
