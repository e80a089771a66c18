// Probes from elsewhere: the coordinator runs a configured command (an argument array, never a
// shell line) with the probe's settings appended; the command runs lbha-probe where the probes
// should come from (`ip netns exec NS ...`, `ssh probe-host ...`) and prints one JSON line per
// probe. Each result is timed on the coordinator's clock when its line arrives (start = arrival
// less the probe's duration), so the two hosts' clocks need not agree.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { ProbeResult } from '../operations/drill-figures.js';
import { FirstResult } from './first-result.js';
import type { ProbeSettings, VipProber } from './vip-prober.js';

/** The arguments lbha-probe takes, after the configured command. */
export function probeArgs(address: string, s: ProbeSettings): string[] {
  return ['--address', address, '--port', String(s.port), '--mode', s.mode, '--path', s.path, '--host', s.host, '--interval-ms', String(s.intervalMs), '--timeout-ms', String(s.timeoutMs)];
}

/** One line of lbha-probe's output, or undefined when it is not one. */
export function parseProbeLine(line: string, receivedMs: number): ProbeResult | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o['ok'] !== 'boolean' || typeof o['ms'] !== 'number' || !Number.isFinite(o['ms']) || o['ms'] < 0) return undefined;
  return { startMs: receivedMs - o['ms'], ms: o['ms'], ok: o['ok'], error: typeof o['error'] === 'string' ? o['error'].slice(0, 200) : '' };
}

export function commandProber(command: readonly string[], settings: ProbeSettings, clock: () => number = Date.now): VipProber {
  const [file, ...prefix] = command;
  if (file === undefined) throw new Error('drill.probe.command is empty');
  return {
    where: command.join(' '),
    start(address) {
      const results: ProbeResult[] = [];
      const first = new FirstResult();
      let stderr = '';
      let failed = '';
      const child = spawn(file, [...prefix, ...probeArgs(address, settings)], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
      child.once('error', (e) => (failed = `${file}: ${e.message}`));
      const lines = createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        const r = parseProbeLine(line, clock());
        if (!r) return;
        results.push(r);
        first.seen();
      });
      const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
      void exited.then(() => first.seen());
      return {
        ready: (maxMs) => first.wait(maxMs),
        stop: async () => {
          child.kill('SIGTERM');
          const kill = setTimeout(() => child.kill('SIGKILL'), settings.timeoutMs + 5000);
          const code = await exited;
          clearTimeout(kill);
          const problem = failed || (code !== 0 && code !== null ? `the probe command exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' / ')}` : '');
          return { results, problem };
        },
      };
    },
  };
}
