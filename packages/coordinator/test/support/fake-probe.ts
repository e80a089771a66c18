// A stand-in for lbha-probe in the coordinator tests, where the VIPs are on fake agents and
// nothing answers on them: it answers every probe itself, one line per interval, failing every
// Nth with --fail-every N. It takes lbha-probe's options and ignores the address.
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    'fail-every': { type: 'string' },
    address: { type: 'string' },
    port: { type: 'string' },
    mode: { type: 'string' },
    path: { type: 'string' },
    host: { type: 'string' },
    'interval-ms': { type: 'string' },
    'timeout-ms': { type: 'string' },
  },
  strict: true,
});
const failEvery = Number(values['fail-every'] ?? 0);
let n = 0;
const timer = setInterval(() => {
  n++;
  const fail = failEvery > 0 && n % failEvery === 0;
  process.stdout.write(`${JSON.stringify({ ms: 2, ok: !fail, error: fail ? 'ECONNRESET' : '' })}\n`);
}, Number(values['interval-ms'] ?? 25));
process.once('SIGTERM', () => {
  clearInterval(timer);
  process.exit(0);
});
