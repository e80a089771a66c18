// A CertificateSource notices rotated files through inotify on their directories, the way the
// common tools rotate them: a rename over the file, certbot's new symlink in live/ renamed over
// the old one, and a Kubernetes secret volume's `..data` symlink swap. The backstop poll is set
// to an hour here, so only the directory watch can pick the new set up within the wait.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CertificateSource, type CertificateFiles } from '@lbha/shared';
import { eventually } from '@lbha/test-support';
import { createDevCa, type DevCa } from '../src/auth/dev-ca.js';

const HOUR_MS = 3_600_000;
const serialOf = (certFile: string): string => new X509Certificate(readFileSync(certFile)).serialNumber;

describe('certificate files watched through their directories', () => {
  let root: string;
  let a: DevCa;
  let b: DevCa;
  const sources: CertificateSource[] = [];
  const watched = (files: CertificateFiles): CertificateSource => {
    const s = new CertificateSource(files, { watchIntervalMs: HOUR_MS });
    sources.push(s);
    return s;
  };
  /** Copies one set's files into `dir` under `names` (ca, cert, key). */
  const place = (set: DevCa, dir: string, names: { ca: string; cert: string; key: string }): void => {
    mkdirSync(dir, { recursive: true });
    copyFileSync(set.ca.cert, join(dir, names.ca));
    copyFileSync(set.coordinator.cert, join(dir, names.cert));
    copyFileSync(set.coordinator.key, join(dir, names.key));
  };

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'lbha-cert-watch-'));
    a = createDevCa({ dir: join(root, 'ca-a') });
    b = createDevCa({ dir: join(root, 'ca-b') });
  });
  after(() => {
    for (const s of sources) s.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('reloads after new files are renamed over the old ones', async () => {
    const dir = join(root, 'plain');
    place(a, dir, { ca: 'ca.crt', cert: 'tls.crt', key: 'tls.key' });
    const source = watched({ ca: join(dir, 'ca.crt'), cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') });
    assert.equal(source.current.leaf.serialNumber, serialOf(a.coordinator.cert));
    place(b, join(dir, 'next'), { ca: 'ca.crt', cert: 'tls.crt', key: 'tls.key' });
    for (const f of ['ca.crt', 'tls.key', 'tls.crt']) renameSync(join(dir, 'next', f), join(dir, f));
    await eventually(() => source.current.leaf.serialNumber === serialOf(b.coordinator.cert), 'the renamed-over certificate in use', 10_000);
  });

  it("follows certbot's live/ symlinks when a renewal points them at new archive files", async () => {
    const dir = join(root, 'letsencrypt');
    place(a, join(dir, 'archive'), { ca: 'chain1.pem', cert: 'cert1.pem', key: 'privkey1.pem' });
    mkdirSync(join(dir, 'live'));
    for (const [link, target] of [['chain.pem', 'chain1.pem'], ['cert.pem', 'cert1.pem'], ['privkey.pem', 'privkey1.pem']] as const) symlinkSync(`../archive/${target}`, join(dir, 'live', link));
    const live = (f: string) => join(dir, 'live', f);
    const source = watched({ ca: live('chain.pem'), cert: live('cert.pem'), key: live('privkey.pem') });
    assert.equal(source.current.leaf.serialNumber, serialOf(a.coordinator.cert));
    place(b, join(dir, 'archive'), { ca: 'chain2.pem', cert: 'cert2.pem', key: 'privkey2.pem' });
    for (const [link, target] of [['chain.pem', 'chain2.pem'], ['privkey.pem', 'privkey2.pem'], ['cert.pem', 'cert2.pem']] as const) {
      symlinkSync(`../archive/${target}`, live(`${link}.new`));
      renameSync(live(`${link}.new`), live(link));
    }
    await eventually(() => source.current.leaf.serialNumber === serialOf(b.coordinator.cert), 'the renewed certificate in use', 10_000);
  });

  it('follows a Kubernetes secret volume when its ..data symlink is swapped', async () => {
    const dir = join(root, 'secret');
    place(a, join(dir, '..2026_12_04_01'), { ca: 'ca.crt', cert: 'tls.crt', key: 'tls.key' });
    symlinkSync('..2026_12_04_01', join(dir, '..data'));
    for (const f of ['ca.crt', 'tls.crt', 'tls.key']) symlinkSync(`..data/${f}`, join(dir, f));
    const source = watched({ ca: join(dir, 'ca.crt'), cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') });
    assert.equal(source.current.leaf.serialNumber, serialOf(a.coordinator.cert));
    place(b, join(dir, '..2026_12_04_02'), { ca: 'ca.crt', cert: 'tls.crt', key: 'tls.key' });
    symlinkSync('..2026_12_04_02', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    rmSync(join(dir, '..2026_12_04_01'), { recursive: true });
    await eventually(() => source.current.leaf.serialNumber === serialOf(b.coordinator.cert), 'the swapped certificate in use', 10_000);
    // And again: the new target directory is watched too.
    place(a, join(dir, '..2026_12_04_03'), { ca: 'ca.crt', cert: 'tls.crt', key: 'tls.key' });
    symlinkSync('..2026_12_04_03', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    await eventually(() => source.current.leaf.serialNumber === serialOf(a.coordinator.cert), 'the second swap in use', 10_000);
  });

  it('keeps the set in use while a rotation is half done, and takes the whole new set', async () => {
    const dir = join(root, 'half');
    place(a, dir, { ca: 'ca.crt', cert: 'tls.crt', key: 'tls.key' });
    const source = watched({ ca: join(dir, 'ca.crt'), cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') });
    copyFileSync(b.coordinator.cert, join(dir, 'tls.crt'));
    // The new certificate with the old key: refused, the old set stays.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(source.current.leaf.serialNumber, serialOf(a.coordinator.cert));
    copyFileSync(b.coordinator.key, join(dir, 'tls.key'));
    await eventually(() => source.current.leaf.serialNumber === serialOf(b.coordinator.cert), 'the completed set in use', 10_000);
  });
});
