// Headless Chromium (Debian's `chromium`) driven over the DevTools protocol for the console's
// browser test. The protocol runs over a pipe (--remote-debugging-pipe: JSON messages ended by
// NUL on file descriptors 3 and 4), so no WebSocket client is needed: Node 20 has none built in,
// and the pipe saves the `ws` package and a debugging port anyone on the host could reach.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { waitFor } from '@lbha/test-support';

type Pending = { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void };

/** The chromium binary, or undefined when it is not installed (scripts/install-deps.sh installs it). */
export function chromiumPath(): string | undefined {
  return ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
}

export class Browser {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private session = '';
  private buffer = '';
  /** Console messages and exceptions of the page, for the test log. */
  readonly log: string[] = [];

  private constructor(
    private readonly proc: ChildProcess,
    private readonly profile: string,
  ) {
    const out = proc.stdio[4] as Readable;
    out.setEncoding('utf8');
    out.on('data', (chunk: string) => {
      this.buffer += chunk;
      let i: number;
      while ((i = this.buffer.indexOf('\0')) >= 0) {
        const msg = JSON.parse(this.buffer.slice(0, i)) as { id?: number; result?: Record<string, unknown>; error?: { message: string }; method?: string; params?: Record<string, unknown> };
        this.buffer = this.buffer.slice(i + 1);
        if (msg.id !== undefined) {
          const p = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (msg.error) p?.reject(new Error(msg.error.message));
          else p?.resolve(msg.result ?? {});
        } else if (msg.method === 'Runtime.consoleAPICalled') {
          this.log.push(`console: ${JSON.stringify((msg.params?.['args'] as Array<{ value?: unknown }>).map((a) => a.value))}`);
        } else if (msg.method === 'Runtime.exceptionThrown') {
          this.log.push(`exception: ${JSON.stringify(msg.params?.['exceptionDetails'])}`);
        }
      }
    });
  }

  /** Starts headless Chromium with a fresh profile; `ignoreCertificateErrors` for the lab's own CA. */
  static async launch(binary: string): Promise<Browser> {
    const profile = mkdtempSync(join(tmpdir(), 'lbha-chromium-'));
    const proc = spawn(
      binary,
      ['--headless', '--no-sandbox', '--disable-gpu', '--remote-debugging-pipe', '--ignore-certificate-errors', '--no-first-run', `--user-data-dir=${profile}`, '--window-size=1280,900', 'about:blank'],
      { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] },
    );
    const b = new Browser(proc, profile);
    const { targetId } = (await b.send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
    const { sessionId } = (await b.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    b.session = sessionId;
    await b.send('Page.enable');
    await b.send('Runtime.enable');
    return b;
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    const msg = { id, method, params, ...(this.session && !method.startsWith('Target.') ? { sessionId: this.session } : {}) };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      (this.proc.stdio[3] as Writable).write(`${JSON.stringify(msg)}\0`);
    });
  }

  async navigate(url: string): Promise<void> {
    await this.send('Page.navigate', { url });
  }

  /** Evaluates an expression in the page; resolves to its value. */
  async evaluate<T>(expression: string): Promise<T> {
    const r = (await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true })) as { result: { value: T }; exceptionDetails?: unknown };
    if (r.exceptionDetails) throw new Error(`page threw: ${JSON.stringify(r.exceptionDetails)}`);
    return r.result.value;
  }

  /** Waits until `expression` is truthy in the page; resolves to its value. */
  async waitFor<T>(what: string, expression: string, timeoutMs = 30_000): Promise<T> {
    return waitFor(what, async () => {
      const v = await this.evaluate<T>(expression).catch(() => undefined);
      return v ? { done: true, value: v } : { done: false, observed: String(v) };
    }, { timeoutMs, intervalMs: 200 });
  }

  /** A PNG of the page as it is drawn now. */
  async screenshot(): Promise<Buffer> {
    const r = (await this.send('Page.captureScreenshot', { format: 'png' })) as { data: string };
    return Buffer.from(r.data, 'base64');
  }

  async close(): Promise<void> {
    await this.send('Browser.close').catch(() => undefined);
    await new Promise<void>((resolve) => {
      if (this.proc.exitCode !== null) return resolve();
      const t = setTimeout(() => {
        this.proc.kill('SIGKILL');
        resolve();
      }, 5000);
      this.proc.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
    rmSync(this.profile, { recursive: true, force: true });
  }
}
