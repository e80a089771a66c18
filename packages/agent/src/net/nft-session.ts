// A long-lived `nft -i` that takes one command line at a time on its stdin. Changing a set
// element through it costs about half a millisecond; spawning `nft` for it costs 4-8 ms (30 ms
// on a busy host), which is most of the time a failover may take (docs/design/unplanned-failover.md).
// The session is started on first use and again after it died; a command sent while it cannot
// run falls back to a one-shot `nft`.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Logger } from '@lbha/shared';
import { describeOutcome, type CommandRunner } from '../util/run-command.js';

export interface NftSessionOptions {
  readonly nftProgram: string;
  /** Arguments before `-i` (a wrapper such as `ip netns exec NS nft` in tests). */
  readonly prefix?: readonly string[];
  readonly run: CommandRunner;
  readonly logger: Logger;
}

export class NftSession {
  private child: ChildProcessWithoutNullStreams | undefined;
  private closed = false;

  constructor(private readonly opts: NftSessionOptions) {}

  /** Sends one command line (several commands separated by `;` are one transaction). */
  send(line: string): void {
    if (line.includes('\n')) throw new Error('nft session: one line at a time');
    const child = this.session();
    if (child?.stdin.writable) {
      child.stdin.write(`${line}\n`);
      return;
    }
    void this.opts.run(this.opts.nftProgram, [line], { timeoutMs: 5_000 }).then((r) => {
      if (r.exitCode !== 0) this.opts.logger.warn({ event: 'failover.nft_failed', command: line, output: describeOutcome(r) }, `nft ${line} failed`);
    });
  }

  close(): void {
    this.closed = true;
    this.child?.stdin.end();
    this.child = undefined;
  }

  private session(): ChildProcessWithoutNullStreams | undefined {
    if (this.closed) return undefined;
    if (this.child && this.child.exitCode === null && !this.child.killed) return this.child;
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn(this.opts.nftProgram, [...(this.opts.prefix ?? []), '-i'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    } catch {
      return undefined;
    }
    child.on('error', (err) => {
      this.opts.logger.warn({ event: 'failover.nft_session_failed', err: err.message }, `cannot run ${this.opts.nftProgram} -i: ${err.message}`);
      if (this.child === child) this.child = undefined;
    });
    child.on('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    child.stdout.resume();
    let pending = '';
    child.stderr.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const l of lines) if (/^Error/.test(l)) this.opts.logger.warn({ event: 'failover.nft_failed', output: l }, `nft: ${l}`);
    });
    child.unref();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
    (child.stderr as unknown as { unref?: () => void }).unref?.();
    this.child = child;
    return child;
  }
}
