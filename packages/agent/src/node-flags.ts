// The V8 flags the agent runs with (the bin's shebang, the package and install wrappers, the
// lab, so bench:agent measures what ships). An idle agent's cost to its host is its private
// memory; at 10 Hz checks it was 42 MB without flags, of which 34 MB anonymous maps (the V8
// heap, JIT code) and 9 MB C heap (docs/benchmarks.md, bench:agent):
// --max-semi-space-size=1: the young generation's semi-spaces stay at 1 MB instead of growing to
//   16 MB each; the agent allocates little, so it only collects a little more often.
// --lite-mode: no compilers at all (it implies --jitless) and no feedback vectors until needed:
//   5 to 8 MB less private memory; the agent's CPU is about a tenth higher (3.0 against 2.7 %
//   of a core at 10 Hz, side by side), since its JavaScript is interpreted, but its work is
//   wakeups, system calls and short runs of cold code that a JIT would hardly compile.
// --single-threaded-gc: the collector runs on the main thread only (no concurrent marking,
//   parallel scavenges or concurrent sweeping), so the V8 worker threads never allocate marking
//   worklists and buffers: about 1 MB less private memory at the median and 2 MB at the peak,
//   CPU unchanged; the pauses of a heap this small stay short.
// --bytecode-old-age=1: a function's bytecode is dropped at the first full collection during
//   which it did not run since the previous one (V8's default waits for five), and compiled
//   again if it is called later. What the agent ran once, at start or for a spec it no longer
//   has, does not stay in its heap; what runs every tick or every few seconds keeps its
//   bytecode. With every check at 10 Hz in the lab: 0.9 MB less private memory (16.1 against
//   16.95 MB, docs/benchmarks-history.md, "The configuration apart, and bytecode flushing"); the CPU cost of compiling again is
//   within the noise of those runs.
// --expose-gc: the agent's own full collection once its old space has grown 2 MB past the last
//   one (util/old-space-trim.ts): under check churn V8 left 4 MB of promoted garbage in it.
// --compact-on-every-full-gc: every full collection moves the live objects out of the old
//   space's fragmented pages and gives those pages back. Without it a full collection (the
//   agent's own above, or V8's) freed the dead objects but kept most pages they were on: after
//   one in check churn the old space held 8.7-9.4 MB of pages for 6.3-6.9 MB of objects. Under
//   churn, four pairs alternated: peak private memory 15.8 against 16.15 MB, peak RSS 54.2
//   against 54.55 MB, CPU 0.98 times (12.66 against 12.86 %); at 10 Hz unchanged within the noise
//   (docs/benchmarks.md, the thirteenth round). A compacting collection of the agent's heap took
//   12 against 7 ms on a test heap of 4 MB live in 9 MB of pages; the agent runs one a minute or
//   so at 10 Hz.
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--lite-mode', '--single-threaded-gc', '--bytecode-old-age=1', '--expose-gc', '--compact-on-every-full-gc'];

// The environment the agent runs with (the same places as the flags):
// MALLOC_MMAP_THRESHOLD_=131072: glibc's own default, fixed. Left alone, glibc raises the
//   threshold to the size of each mmapped block freed (up to 32 MB), so once the agent has freed
//   a large block, blocks up to that size come from the main heap and stay there, fragmented,
//   after they are freed: an idle agent had 1.1 MB more C heap (4.6 against 3.5 MB,
//   docs/benchmarks.md). Setting the threshold turns that adjustment off.
export const AGENT_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '131072' };
