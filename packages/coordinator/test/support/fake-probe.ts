// A stand-in for lbha-probe in the coordinator tests, where the VIPs are on fake agents and
// nothing answers on them: it answers every probe itself, one line per interval, failing every
// Nth with --fail-every N. It takes lbha-probe's options and ignores the address.
import { isIP } from 'node:net';
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
// What the coordinator asks must be what lbha-probe takes: a bare address, not a CIDR or a name.
if (isIP(values['address'] ?? '') === 0) {
  process.stderr.write(`fake-probe: --address ${JSON.stringify(values['address'])} is not an IP address\n`);
  process.exit(2);
}
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
