#!/usr/bin/env node
// lbha-probe: fresh-connection probes of one address until SIGTERM, one JSON line each
// ({"ms":12,"ok":true,"error":""}); what a drill runs where its probes should come from when
// the coordinator cannot reach the VIPs itself (drill.probe.command, docs/design/drill.md).
import { parseArgs } from 'node:util';
import { readPackageVersion, versionText } from '@lbha/shared';
import { startProbeLoop } from '../probes/probe-loop.js';

const USAGE = `usage: lbha-probe --address ADDRESS [--port 80] [--mode http|tcp] [--path /] [--host NAME]
                  [--interval-ms 25] [--timeout-ms 1000] [--version]
Probes ADDRESS on a fresh connection every interval until SIGTERM; one JSON line per probe.
`;

function fail(message: string): never {
  process.stderr.write(`lbha-probe: ${message}\n`);
  process.exit(2);
}

function whole(name: string, v: string | undefined, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) fail(`--${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(v)}`);
  return n;
}

let values: Record<string, string | undefined>;
try {
  values = parseArgs({
    options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'V' }, address: { type: 'string' }, port: { type: 'string' }, mode: { type: 'string' }, path: { type: 'string' }, host: { type: 'string' }, 'interval-ms': { type: 'string' }, 'timeout-ms': { type: 'string' } },
    strict: true,
  }).values as Record<string, string | undefined>;
  if (values['help']) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  if (values['version']) {
    process.stdout.write(versionText('lbha-probe', readPackageVersion(new URL('../../../package.json', import.meta.url))));
    process.exit(0);
  }
} catch (err) {
  fail((err as Error).message);
}
const address = values['address'] ?? fail('--address is required');
const mode = values['mode'] ?? 'http';
if (mode !== 'http' && mode !== 'tcp') fail(`--mode must be http or tcp, not ${JSON.stringify(mode)}`);
const path = values['path'] ?? '/';
if (!path.startsWith('/')) fail('--path must start with /');
const loop = startProbeLoop(
  address,
  {
    mode,
    port: whole('port', values['port'] ?? '80', 1, 65535),
    path,
    host: values['host'] ?? '',
    intervalMs: whole('interval-ms', values['interval-ms'] ?? '25', 5, 60_000),
    timeoutMs: whole('timeout-ms', values['timeout-ms'] ?? '1000', 10, 60_000),
  },
  (r) => process.stdout.write(`${JSON.stringify({ ms: r.ms, ok: r.ok, error: r.error })}\n`),
);
const stop = () => void loop.stop().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
