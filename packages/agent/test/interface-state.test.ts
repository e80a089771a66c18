// An interface's link state from sysfs, read through kept descriptors: each read sees the
// attributes of now, a descriptor belongs to the device it was opened on, and a name that comes
// to point at another device (a rename) or at nothing is read afresh. sysfs itself is laid out
// as the kernel does: /sys/class/net/NAME is a link to the device's directory.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { linkProblem, readLinkState } from '../src/net/interface-state.js';
import { closeKeptFiles } from '../src/util/kept-file.js';

const dirs: string[] = [];
after(() => {
  closeKeptFiles();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function sysfs(): { root: string; device(name: string, flags: string, carrier: string, operstate: string): string } {
  const base = mkdtempSync(join(tmpdir(), 'lbha-sysfs-'));
  dirs.push(base);
  const root = join(base, 'class', 'net');
  mkdirSync(root, { recursive: true });
  return {
    root,
    device(name, flags, carrier, operstate) {
      const dir = join(base, 'devices', name);
      mkdirSync(dir, { recursive: true });
      // Written in place, as the kernel's attributes change: a kept descriptor reads the new text.
      writeFileSync(join(dir, 'flags'), `${flags}\n`);
      writeFileSync(join(dir, 'carrier'), `${carrier}\n`);
      writeFileSync(join(dir, 'operstate'), `${operstate}\n`);
      return dir;
    },
  };
}

/** Descriptors this process holds on files under `dir`. */
function openUnder(dir: string): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
    } catch {
      return false;
    }
  }).length;
}

describe('interface state from sysfs', () => {
  it('reads the attributes of now through kept descriptors', async () => {
    const s = sysfs();
    const dev = s.device('dev1', '0x1003', '1', 'up');
    symlinkSync(dev, join(s.root, 'eth2'));
    assert.deepEqual(await readLinkState('eth2', s.root), { exists: true, adminUp: true, carrier: true, operstate: 'up' });
    assert.equal(openUnder(dev), 3, 'operstate, flags and carrier kept open');
    s.device('dev1', '0x1003', '0', 'lowerlayerdown');
    assert.deepEqual(await readLinkState('eth2', s.root), { exists: true, adminUp: true, carrier: false, operstate: 'lowerlayerdown' });
    assert.equal(openUnder(dev), 3, 'no new descriptor per read');
  });

  it('reads a renamed interface as gone, and the device that takes its name as that device', async () => {
    const s = sysfs();
    const first = s.device('dev1', '0x1003', '1', 'up');
    const second = s.device('dev2', '0x1002', '0', 'down');
    symlinkSync(first, join(s.root, 'eth2'));
    assert.equal(linkProblem('eth2', await readLinkState('eth2', s.root)), undefined);
    // eth2 renamed: its descriptors would still read the first device.
    rmSync(join(s.root, 'eth2'));
    symlinkSync(first, join(s.root, 'eth3'));
    assert.deepEqual(await readLinkState('eth2', s.root), { exists: false });
    assert.equal(openUnder(first), 0, 'the renamed device is no longer kept open');
    // Another device given the name.
    symlinkSync(second, join(s.root, 'eth2'));
    assert.equal(linkProblem('eth2', await readLinkState('eth2', s.root)), 'interface eth2 is administratively down');
    assert.equal(linkProblem('eth3', await readLinkState('eth3', s.root)), undefined);
  });

  it('reads the real loopback interface', async () => {
    const lo = await readLinkState('lo');
    assert.equal(lo.exists, true);
    assert.equal(linkProblem('lo', lo), undefined);
    assert.deepEqual(await readLinkState('lbha-none0'), { exists: false });
  });
});
