// The seed's `down` file: present = unhealthy. Watches the file's directory (the file itself
// may not exist yet), so creating or removing it takes effect at once in both directions.
import { watch, type FSWatcher } from 'node:fs';
import { access } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { HEALTHY, unhealthy, type CheckResult } from '@lbha/shared';
import type { Probe, ProbeEmit } from './probe.js';

export function maintenanceFileProbe(path: string): Probe {
  const read = async (): Promise<CheckResult> => {
    try {
      await access(path);
      return unhealthy(`maintenance file ${path} is present`);
    } catch {
      return HEALTHY;
    }
  };
  return {
    probe: () => read(),
    watch(emit: ProbeEmit) {
      let watcher: FSWatcher | undefined;
      const name = basename(path);
      try {
        watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
          if (file !== null && file !== name) return;
          // Operator intent, not a flaky signal: both directions apply at once.
          void read().then((r) => emit(r, true));
        });
        watcher.on('error', () => watcher?.close());
      } catch {
        // Directory missing: the interval poll still sees the file once it appears.
      }
      return () => watcher?.close();
    },
  };
}
