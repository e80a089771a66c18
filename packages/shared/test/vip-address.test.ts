// The IPv4 paths of the address helpers work on 32-bit integers (spec validation calls them for
// every VIP); they must say exactly what the BigInt arithmetic they replaced said.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { v4ToInt, type Cidr } from '../src/ip.js';
import { subnetText, vipAddressProblem, vipSubnetProblem } from '../src/vip-address.js';

/** The previous arithmetic, in BigInt. */
function bits(a: string): bigint {
  return BigInt(a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0));
}

function referenceSubnetText(c: Cidr): string {
  const host = BigInt(32 - c.prefix);
  const net = (bits(c.address) >> host) << host;
  return `${[24n, 16n, 8n, 0n].map((s) => String((net >> s) & 255n)).join('.')}/${c.prefix}`;
}

function referenceOffsetProblem(vip: Cidr, subnet: Cidr): 'network' | 'broadcast' | undefined {
  if (subnet.prefix >= 31) return undefined;
  const hostBits = BigInt(32 - subnet.prefix);
  const offset = bits(vip.address) & ((1n << hostBits) - 1n);
  if (offset === 0n) return 'network';
  if (offset === (1n << hostBits) - 1n) return 'broadcast';
  return undefined;
}

const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
// Addresses near the edges of subnets (network, broadcast) as often as anywhere else.
const edgy = fc.oneof(v4, fc.tuple(fc.nat(255), fc.nat(255), fc.constantFrom(0, 127, 128, 255), fc.constantFrom(0, 1, 127, 128, 254, 255)).map((o) => o.join('.')));

describe('IPv4 address arithmetic', () => {
  it('reads an address as the same integer as before', () => {
    fc.assert(fc.property(edgy, (a) => assert.equal(BigInt(v4ToInt(a)), bits(a))));
  });

  it('gives the same subnet text for every prefix', () => {
    fc.assert(fc.property(edgy, fc.integer({ min: 0, max: 32 }), (address, prefix) => assert.equal(subnetText({ address, prefix, family: 4 }), referenceSubnetText({ address, prefix, family: 4 }))));
    assert.equal(subnetText({ address: '192.168.20.28', prefix: 24, family: 4 }), '192.168.20.0/24');
    assert.equal(subnetText({ address: '255.255.255.255', prefix: 0, family: 4 }), '0.0.0.0/0');
    assert.equal(subnetText({ address: '255.255.255.255', prefix: 32, family: 4 }), '255.255.255.255/32');
  });

  it('finds the network and broadcast addresses of a subnet as before', () => {
    fc.assert(
      fc.property(edgy, fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 32 }), (address, subnetPrefix, vipPrefix) => {
        const subnet: Cidr = { address, prefix: subnetPrefix, family: 4 };
        const vip: Cidr = { address, prefix: Math.max(vipPrefix, subnetPrefix), family: 4 };
        const problem = vipSubnetProblem(vip, subnet);
        const expected = referenceOffsetProblem(vip, subnet);
        if (expected === undefined) assert.equal(problem, undefined);
        else assert.equal(problem, `${address} is the ${expected} address of ${referenceSubnetText(subnet)}`);
      }),
    );
    assert.equal(vipSubnetProblem({ address: '10.0.0.255', prefix: 24, family: 4 }, { address: '10.0.0.1', prefix: 24, family: 4 }), '10.0.0.255 is the broadcast address of 10.0.0.0/24');
    assert.equal(vipSubnetProblem({ address: '10.0.0.0', prefix: 32, family: 4 }, { address: '10.0.0.1', prefix: 24, family: 4 }), '10.0.0.0 is the network address of 10.0.0.0/24');
    assert.equal(vipSubnetProblem({ address: '10.0.0.0', prefix: 32, family: 4 }, { address: '10.0.0.1', prefix: 31, family: 4 }), undefined);
    assert.equal(vipAddressProblem({ address: '224.0.0.18', prefix: 32, family: 4 }), '224.0.0.18 is the VRRP multicast group; it cannot be a VIP');
    assert.equal(vipSubnetProblem({ address: 'fd00::', prefix: 128, family: 6 }, { address: 'fd00::1', prefix: 64, family: 6 }), 'fd00:: is the subnet-router anycast address of fd00::/64');
  });
});
