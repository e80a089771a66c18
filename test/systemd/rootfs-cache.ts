// The root file system of the systemd-booted test nodes: Debian 12 (the release the docs name)
// made by mmdebstrap from Debian's packages, once, and kept in a cache between runs. Everything a
// node needs from Debian is in it, so the containers never need a network: the lbha packages are
// installed from local files.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isProcessAlive } from '../lab/run-registry.js';
import { runCommand } from '../lab/run-command.js';

/** The Debian release of the nodes: docs/install.md names Debian 12. */
export const NODE_SUITE = 'bookworm';

/** What the nodes have before lbha: systemd as init, the daemons lbha drives, and what its packages depend on. */
export const NODE_PACKAGES: readonly string[] = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'keepalived',
  'nginx-light',
  'nftables',
  'iproute2',
  'procps',
  'curl',
  'openssl',
  'bash-completion',
];

export interface RootfsOptions {
  /** Default: $LBHA_ROOTFS_CACHE or /var/cache/lbha-test/rootfs. */
  readonly cacheDir?: string;
  readonly log?: (line: string) => void;
}

export interface Rootfs {
  readonly dir: string;
  /** True when this call built it (false: taken from the cache). */
  readonly built: boolean;
  readonly buildMs: number;
}

const COMPLETE = '.lbha-rootfs-complete';

/** The cache key: the suite, the package list and the way it is built. */
function cacheKey(): string {
  return createHash('sha256').update(JSON.stringify({ v: 1, suite: NODE_SUITE, packages: NODE_PACKAGES, variant: 'minbase' })).digest('hex').slice(0, 12);
}

/** Removes half-built trees of builders that died (crashed runs). */
function removeStaleBuilds(cacheDir: string, log: (line: string) => void): void {
  for (const entry of existsSync(cacheDir) ? readdirSync(cacheDir) : []) {
    const m = /^\.build-(\d+)-/.exec(entry);
    if (!m || isProcessAlive(Number(m[1]))) continue;
    log(`removing the half-built root file system ${entry} (builder ${m[1]} is gone)`);
    rmSync(join(cacheDir, entry), { recursive: true, force: true });
  }
}

/** Returns the cached root file system, building it first when there is none. */
export async function nodeRootfs(options: RootfsOptions = {}): Promise<Rootfs> {
  const log = options.log ?? (() => undefined);
  const cacheDir = options.cacheDir ?? process.env['LBHA_ROOTFS_CACHE'] ?? '/var/cache/lbha-test/rootfs';
  const dir = join(cacheDir, `${NODE_SUITE}-${cacheKey()}`);
  if (existsSync(join(dir, COMPLETE))) return { dir, built: false, buildMs: 0 };
  mkdirSync(cacheDir, { recursive: true });
  removeStaleBuilds(cacheDir, log);
  const work = join(cacheDir, `.build-${process.pid}-${cacheKey()}`);
  rmSync(work, { recursive: true, force: true });
  log(`building the ${NODE_SUITE} root file system with mmdebstrap (cached in ${dir})`);
  const started = Date.now();
  const r = await runCommand('mmdebstrap', ['--variant=minbase', `--include=${NODE_PACKAGES.join(',')}`, NODE_SUITE, work], { timeoutMs: 15 * 60_000 });
  if (r.code !== 0) {
    rmSync(work, { recursive: true, force: true });
    throw new Error(`mmdebstrap failed (${r.code}): ${(r.stderr || r.stdout).split('\n').slice(-15).join('\n')}`);
  }
  writeFileSync(join(work, COMPLETE), `${new Date().toISOString()}\n`);
  const buildMs = Date.now() - started;
  if (existsSync(join(dir, COMPLETE))) {
    // Another run built it meanwhile.
    rmSync(work, { recursive: true, force: true });
    return { dir, built: false, buildMs };
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(work, dir);
  return { dir, built: true, buildMs };
}
