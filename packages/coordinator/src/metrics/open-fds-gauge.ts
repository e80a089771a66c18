// The coordinator's open file descriptors, counted off the event loop. prom-client's own
// process_open_fds lists /proc/self/fd with readdirSync on every scrape: with one socket per
// agent that is a listing of thousands of entries on the event loop, in the one step of a
// scrape that cannot be sliced (prom-client collects every default metric in one go). Listed on
// libuv's thread pool instead, the listing still took the one core from the event loop while it
// ran (about 2.5-3 µs per descriptor) and left a string per descriptor for the collector; since
// Linux 6.2 the directory's size is the count, one stat.
import { readdir, stat } from 'node:fs/promises';
import { Gauge, type Registry } from 'prom-client';

const NAME = 'process_open_fds';
const FD_DIR = '/proc/self/fd';

/** The size of /proc/self/fd: the number of open descriptors on Linux 6.2 and later, 0 before. */
async function fdDirectorySize(): Promise<number> {
  return (await stat(FD_DIR)).size;
}

/**
 * Replaces the default metrics' `${prefix}process_open_fds` in `registry` (Linux only, as
 * prom-client's) by a gauge of the same name and help whose listing runs on libuv's thread pool.
 * `directorySize` reads the size of /proc/self/fd (a kernel before 6.2 gives 0: tests of the
 * listing pass one that does).
 */
export function openFdsOffTheLoop(registry: Registry, prefix: string, directorySize: () => Promise<number> = fdDirectorySize): void {
  if (process.platform !== 'linux' || registry.getSingleMetric(prefix + NAME) === undefined) return;
  registry.removeSingleMetric(prefix + NAME);
  new Gauge({
    name: prefix + NAME,
    help: 'Number of open file descriptors.',
    registers: [registry],
    async collect() {
      try {
        // Linux 6.2 and later give the number of open descriptors as the size of the directory;
        // earlier kernels give 0, and the directory is listed (minus the descriptor the listing
        // itself holds open).
        const size = await directorySize();
        this.set(size > 0 ? size : (await readdir(FD_DIR)).length - 1);
      } catch {
        // Left as it was: a failed listing is no reason to fail the scrape.
      }
    },
  });
}
