// A real Prometheus on a lab's coordinator: gives the coordinator its HTTP listener (/metrics)
// if it has none, restarts it, and scrapes it every second with lbha's alert rules loaded. The
// tests then ask which alerts fire, as an operator's Prometheus would have them.
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitFor } from '@lbha/test-support';
import type { Lab } from '../lab/index.js';
import { ALERTS_FILE, prometheusBinary, PrometheusServer, type ActiveAlert, type Sample } from '../support/prometheus.js';
import { agentsOf, waitForBaseline } from './e2e-support.js';

/** Why the tests that need Prometheus cannot run, or undefined. */
export const prometheusMissing: string | undefined = prometheusBinary() ? undefined : 'skipped: prometheus is not installed (Debian package "prometheus")';

export class LabPrometheus {
  private constructor(readonly prom: PrometheusServer) {}

  static async start(lab: Lab): Promise<LabPrometheus> {
    const agents = agentsOf(lab);
    const configFile = agents.coordinatorConfigFile;
    const existing = /^http:\s*\n\s+listen:\s*"?127\.0\.0\.1:(\d+)"?/m.exec(readFileSync(configFile, 'utf8'));
    const port = existing ? Number(existing[1]) : await freePort();
    if (!existing) {
      appendFileSync(configFile, `http:\n  listen: "127.0.0.1:${port}"\n`);
      await agents.stopCoordinator('SIGTERM');
      await agents.startCoordinator();
      await waitForBaseline(lab);
    }
    const prom = await PrometheusServer.start({
      dir: join(lab.runDir, `prometheus-${Date.now()}`),
      intervalSeconds: 1,
      ruleFiles: [ALERTS_FILE],
      jobs: [{ job: 'lbha-coordinator', scheme: 'https', caFile: agents.tls.ca, targets: [{ address: `127.0.0.1:${port}` }] }],
    });
    await waitFor('Prometheus to scrape the coordinator', async () => {
      const t = await prom.targets();
      return t.some((x) => x.health === 'up') ? { done: true, value: undefined } : { done: false, observed: JSON.stringify(t) };
    }, { timeoutMs: 30_000, intervalMs: 250 });
    return new LabPrometheus(prom);
  }

  /** Waits until `alertname` fires with `labels` (a subset); returns it. */
  async firing(alertname: string, labels: Readonly<Record<string, string>> = {}, timeoutMs = 60_000): Promise<ActiveAlert> {
    return waitFor(`${alertname} ${JSON.stringify(labels)} to fire`, async () => {
      const alerts = await this.prom.alerts();
      const a = alerts.find((x) => x.labels['alertname'] === alertname && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
      return a?.state === 'firing' ? { done: true, value: a } : { done: false, observed: JSON.stringify(alerts.map((x) => [x.labels['alertname'], x.state])) };
    }, { timeoutMs, intervalMs: 500 });
  }

  /** Waits until no alert `alertname` is pending or firing. */
  async quiet(alertname: string, timeoutMs = 60_000): Promise<void> {
    await waitFor(`${alertname} to resolve`, async () => {
      const left = (await this.prom.alerts()).filter((x) => x.labels['alertname'] === alertname);
      return left.length === 0 ? { done: true, value: undefined } : { done: false, observed: JSON.stringify(left) };
    }, { timeoutMs, intervalMs: 500 });
  }

  /** Alerts pending or firing now, by name. */
  async active(): Promise<string[]> {
    return (await this.prom.alerts()).map((a) => a.labels['alertname'] ?? '');
  }

  samples(expr: string): Promise<readonly Sample[]> {
    return this.prom.samples(expr);
  }

  stop(): Promise<void> {
    return this.prom.stop();
  }
}
