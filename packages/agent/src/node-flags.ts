// The V8 flags the agent runs with (the bin's shebang, the package and install wrappers, the
// lab). An idle agent's cost to its host is its private memory; at 10 Hz checks it was 42 MB, of
// which 34 MB anonymous maps (the V8 heap, JIT code) and 9 MB C heap. With these two flags it is
// 22-23 MB in the same run; its CPU moved within the noise (docs/benchmarks.md, bench:agent):
// --max-semi-space-size=1: the young generation's semi-spaces stay at 1 MB instead of growing to
//   16 MB each; the agent allocates little, so it only collects a little more often.
// --lite-mode: no optimizing compiler and no feedback vectors until needed; the agent's CPU goes
//   to system calls (reading /proc, spawning checks), not to hot JavaScript.
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--lite-mode'];
