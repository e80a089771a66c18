// The ARP sysctls of an outgoing handover, on files standing in for /proc/sys: only raised,
// the old values put back per interface, the record gone once nothing is changed.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { silentLogger } from '@lbha/shared';
import { ArpSysctls, type SavedSysctls } from '../src/net/arp-sysctls.js';
import { JsonFile } from '../src/state/json-file.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function setup(values: Record<string, [ignore: string, announce: string]>) {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-arp-'));
  dirs.push(dir);
  const conf = (ifname: string, key: string) => join(dir, 'sys', 'net', 'ipv4', 'conf', ifname, key);
  for (const [ifname, [ignore, announce]] of Object.entries(values)) {
    mkdirSync(join(dir, 'sys', 'net', 'ipv4', 'conf', ifname), { recursive: true });
    writeFileSync(conf(ifname, 'arp_ignore'), `${ignore}\n`);
    writeFileSync(conf(ifname, 'arp_announce'), `${announce}\n`);
  }
  const storePath = join(dir, 'sysctls.json');
  const arp = new ArpSysctls({ store: new JsonFile<SavedSysctls>(storePath), procSysRoot: join(dir, 'sys'), logger: silentLogger() });
  const read = (ifname: string) => [readFileSync(conf(ifname, 'arp_ignore'), 'utf8').trim(), readFileSync(conf(ifname, 'arp_announce'), 'utf8').trim()];
  return { arp, read, stored: () => existsSync(storePath) };
}

describe('ARP sysctls of an outgoing handover', () => {
  it('raises both, never lowers, and puts back what was there, interface by interface', async () => {
    const { arp, read, stored } = setup({ all: ['0', '0'], eth1: ['0', '0'], eth2: ['0', '1'], eth3: ['2', '2'] });
    for (const ifname of ['eth1', 'eth2', 'eth3']) assert.equal(await arp.raise(ifname), undefined);
    assert.deepEqual([read('eth1'), read('eth2'), read('eth3')], [['1', '2'], ['1', '2'], ['2', '2']]);
    assert.deepEqual(await arp.changed(), ['eth1', 'eth2'], 'eth3 needed no change');
    await arp.restore('eth1');
    await arp.restore('eth2');
    assert.deepEqual([read('eth1'), read('eth2'), read('eth3')], [['0', '0'], ['0', '1'], ['2', '2']]);
    assert.deepEqual(await arp.changed(), []);
    assert.equal(stored(), false, 'no record is left once everything is back');
  });

  it('keeps the first values seen when raised twice', async () => {
    const { arp, read } = setup({ all: ['0', '0'], eth1: ['0', '0'] });
    await arp.raise('eth1');
    await arp.raise('eth1');
    await arp.restore('eth1');
    assert.deepEqual(read('eth1'), ['0', '0']);
  });

  it('names the interface it cannot change', async () => {
    const { arp } = setup({ all: ['0', '0'] });
    assert.match((await arp.raise('eth9')) ?? '', /^cannot set arp_ignore=1 and arp_announce=2 on eth9 \(/);
  });
});
