// The seed's `down` file: present = unhealthy. Watches the file's directory (the file itself
// may not exist yet), so creating or removing it takes effect at once in both directions.
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { HEALTHY, unhealthy, type CheckResult } from '@lbha/shared';
import type { Probe, ProbeEmit } from './probe.js';

export function maintenanceFileProbe(path: string): Probe {
  // A stat of a local path is cheaper done directly than through the thread pool at 10 Hz.
  const read = async (): Promise<CheckResult> => (existsSync(path) ? unhealthy(`maintenance file ${path} is present`) : HEALTHY);
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
