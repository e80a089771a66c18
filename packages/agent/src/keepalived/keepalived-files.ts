// Where the agent keeps keepalived's inputs: one shared health track file, one placement
// track file per instance, the notify FIFO. All under the node's own directories, so several
// agents on one host (one per network namespace) share nothing.
import { join } from 'node:path';

export interface KeepalivedFiles {
  readonly configFile: string;
  /** The last config keepalived accepted, kept for the operator and for rollback. */
  readonly lastGoodFile: string;
  readonly notifyFifo: string;
  readonly trackDir: string;
  readonly healthFile: string;
  placementFile(instance: string): string;
}

export function keepalivedFiles(opts: { configFile: string; notifyFifo: string; trackDir: string }): KeepalivedFiles {
  return {
    configFile: opts.configFile,
    lastGoodFile: `${opts.configFile}.last-good`,
    notifyFifo: opts.notifyFifo,
    trackDir: opts.trackDir,
    healthFile: join(opts.trackDir, 'health'),
    placementFile: (instance) => join(opts.trackDir, `placement-${instance}`),
  };
}
