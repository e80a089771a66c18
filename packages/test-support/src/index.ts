export { eventually, sleep, WAIT_BOUND_MS, waitFor, WaitTimeoutError, type Observation, type WaitOptions } from './wait-for.js';
export { freePort, freePorts } from './free-port.js';
export { LoopGapMonitor, summarizeGaps, threadSchedstat, type LoopGap, type LoopGapSummary } from './loop-gaps.js';
export { seededRandom } from './seeded-random.js';
