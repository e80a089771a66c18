// The ARP sysctls an outgoing handover needs on the VIP's interface: arp_ignore=1 and
// arp_announce=2, so the old holder, keeping the VIP on lo, never answers or announces it on the
// segment. Only ever raised; the values from before are kept in a file under /run (sysctls are
// reset at boot, and so must the record be) and put back when the last handover ends.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@lbha/shared';
import type { JsonFile } from '../state/json-file.js';

/** Interface sysctls as they were before the first outgoing handover changed them. */
export type SavedSysctls = Record<string, { arpIgnore: string; arpAnnounce: string }>;

export interface ArpSysctlsOptions {
  readonly store: JsonFile<SavedSysctls>;
  /** /proc/sys, replaceable in tests. */
  readonly procSysRoot: string;
  readonly logger: Logger;
}

export class ArpSysctls {
  constructor(private readonly opts: ArpSysctlsOptions) {}

  /** Raises both on `ifname` where they are lower, saving what was there; says why it could not. */
  async raise(ifname: string): Promise<string | undefined> {
    const saved = (await this.opts.store.load()) ?? {};
    const ignore = this.path(ifname, 'arp_ignore');
    const announce = this.path(ifname, 'arp_announce');
    try {
      const arpIgnore = (await readFile(ignore, 'utf8')).trim();
      const arpAnnounce = (await readFile(announce, 'utf8')).trim();
      // The kernel uses the larger of the interface's and "all"'s value.
      const allIgnore = Number((await readFile(this.path('all', 'arp_ignore'), 'utf8').catch(() => '0')).trim());
      const allAnnounce = Number((await readFile(this.path('all', 'arp_announce'), 'utf8').catch(() => '0')).trim());
      const raiseIgnore = Math.max(Number(arpIgnore), allIgnore) < 1;
      const raiseAnnounce = Math.max(Number(arpAnnounce), allAnnounce) < 2;
      if ((raiseIgnore || raiseAnnounce) && !saved[ifname]) {
        saved[ifname] = { arpIgnore, arpAnnounce };
        await this.opts.store.save(saved);
      }
      // Never answer ARP for the VIP from lo, never use it as an ARP source: only raise.
      if (raiseIgnore) await writeFile(ignore, '1\n');
      if (raiseAnnounce) await writeFile(announce, '2\n');
      return undefined;
    } catch (err) {
      return `cannot set arp_ignore=1 and arp_announce=2 on ${ifname} (${(err as Error).message}); set them in /etc/sysctl.d (docs/install.md)`;
    }
  }

  /** The interfaces whose values were raised and not yet put back. */
  async changed(): Promise<string[]> {
    return Object.keys((await this.opts.store.load()) ?? {});
  }

  /** Puts back the values `ifname` had before the first raise, if any were saved. */
  async restore(ifname: string): Promise<void> {
    const saved = (await this.opts.store.load()) ?? {};
    const s = saved[ifname];
    if (!s) return;
    try {
      await writeFile(this.path(ifname, 'arp_ignore'), `${s.arpIgnore}\n`);
      await writeFile(this.path(ifname, 'arp_announce'), `${s.arpAnnounce}\n`);
    } catch (err) {
      // The interface may be gone; nothing to restore then.
      this.opts.logger.warn({ event: 'handover.sysctl_restore_failed', interface: ifname, err: (err as Error).message }, `cannot restore ARP sysctls of ${ifname}`);
    }
    delete saved[ifname];
    if (Object.keys(saved).length === 0) await this.opts.store.remove();
    else await this.opts.store.save(saved);
  }

  private path(ifname: string, key: string): string {
    return join(this.opts.procSysRoot, 'net', 'ipv4', 'conf', ifname, key);
  }
}
