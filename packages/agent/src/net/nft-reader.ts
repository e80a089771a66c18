// Reads nftables through a long-lived `nft -j -i`: one `list ...` line in, one JSON line out
// (an error is an "Error:" line on stderr and no output). The VRRP watch lists its tables every
// 2 s; a forked `nft` costs the agent about 0.9 ms of CPU (the fork of a 60 MB process) and nft
// 1.6 ms more to start, where a line to the running session costs a fraction of that
// (docs/benchmarks.md, "Agent"). Requests are sent one at a time, each when the one before it
// was answered: an answer on stdout and an error on stderr come through two pipes, so two
// requests in flight could not be told apart. The session
// starts on first use and again after it died or stopped answering; a request it cannot take
// runs a one-shot `nft -j` instead.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { CommandOutcome, CommandRunner } from '../util/run-command.js';

export interface NftReaderOptions {
  readonly nftProgram: string;
  /** Arguments before `-j -i` and before the one-shot's arguments (`ip netns exec NS nft` in tests). */
  readonly prefix?: readonly string[];
  readonly run: CommandRunner;
}

interface Request {
  readonly args: readonly string[];
  readonly timeoutMs: number;
  readonly resolve: (o: CommandOutcome) => void;
}

const ok = (stdout: string): CommandOutcome => ({ exitCode: 0, output: stdout.trim(), stdout, timedOut: false, spawnError: undefined });
const failed = (output: string, timedOut = false): CommandOutcome => ({ exitCode: timedOut ? undefined : 1, output, stdout: '', timedOut, spawnError: undefined });

export class NftReader {
  private child: ChildProcessWithoutNullStreams | undefined;
  /** Requests not sent yet, oldest first. */
  private readonly queue: Request[] = [];
  /** The request the session is answering, and its deadline. */
  private inFlight: { readonly request: Request; readonly timer: NodeJS.Timeout } | undefined;
  private closed = false;

  constructor(private readonly opts: NftReaderOptions) {}

  /** `nft -j ARGS` (a `list` command): resolves for every outcome, like a CommandRunner. */
  list(args: readonly string[], timeoutMs = 5_000): Promise<CommandOutcome> {
    // Words only: the session reads one line, split at spaces, and `;` would start a second command.
    if (args.some((a) => a === '' || /[\s;#]/.test(a))) return Promise.resolve(failed(`nft: not one command: ${JSON.stringify(args)}`));
    return new Promise((resolve) => {
      this.queue.push({ args, timeoutMs, resolve });
      this.next();
    });
  }

  /** The session's process id, while one runs. */
  get sessionPid(): number | undefined {
    return this.child?.pid;
  }

  /** Ends the session; requests still waiting run as one-shots. */
  close(): void {
    this.closed = true;
    if (this.child) this.end(this.child, failed('nft reader closed'));
  }

  /** Sends the oldest request when none is in flight (to the session, or as a one-shot). */
  private next(): void {
    if (this.inFlight) return;
    const request = this.queue.shift();
    if (!request) return;
    const child = this.session();
    if (!child?.stdin.writable) {
      void this.opts.run(this.opts.nftProgram, [...(this.opts.prefix ?? []), '-j', ...request.args], { timeoutMs: request.timeoutMs }).then((o) => {
        request.resolve(o);
        this.next();
      });
      return;
    }
    // A session that does not answer in time is ended, and a new one takes the next request.
    const timer = setTimeout(() => this.end(child, failed(`nft -i did not answer within ${request.timeoutMs} ms`, true)), request.timeoutMs);
    this.inFlight = { request, timer };
    child.stdin.write(`${request.args.join(' ')}\n`);
  }

  private answer(o: CommandOutcome): void {
    const f = this.inFlight;
    if (!f) return;
    this.inFlight = undefined;
    clearTimeout(f.timer);
    f.request.resolve(o);
    this.next();
  }

  private end(child: ChildProcessWithoutNullStreams, o: CommandOutcome): void {
    if (this.child === child) this.child = undefined;
    child.kill('SIGKILL');
    this.answer(o);
  }

  private session(): ChildProcessWithoutNullStreams | undefined {
    if (this.closed) return undefined;
    if (this.child && this.child.exitCode === null && !this.child.killed) return this.child;
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn(this.opts.nftProgram, [...(this.opts.prefix ?? []), '-j', '-i'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    } catch {
      return undefined;
    }
    const gone = (why: string): void => {
      if (this.child !== child) return;
      this.child = undefined;
      this.answer(failed(why));
    };
    child.on('error', (err) => gone(`cannot run ${this.opts.nftProgram} -j -i: ${err.message}`));
    child.on('exit', (code, signal) => gone(`nft -i exited (${signal ?? code ?? 'unknown'})`));
    child.stdin.on('error', () => undefined);
    // Only the current session answers: a late line of one that was ended is dropped.
    lines(child.stdout, (l) => {
      if (this.child === child) this.answer(ok(`${l}\n`));
    });
    lines(child.stderr, (l) => {
      if (this.child === child && l.startsWith('Error')) this.answer(failed(l));
    });
    // An idle session does not keep the agent alive; a request waiting for it does (its timer).
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as { unref?: () => void }).unref?.();
    this.child = child;
    return child;
  }
}

function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let pending = '';
  stream.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    let i = pending.indexOf('\n');
    while (i >= 0) {
      onLine(pending.slice(0, i));
      pending = pending.slice(i + 1);
      i = pending.indexOf('\n');
    }
  });
}
