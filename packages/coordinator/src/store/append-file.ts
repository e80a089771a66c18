// A file the store only appends to (a wal segment, a log's newest file), written durably, with
// its descriptor kept open from the first append until it is closed (the segment is switched,
// the file sealed, the store stopped). Opening, stat-ing and closing the file for every append
// cost three more system calls, each a round trip through libuv's thread pool, per transaction:
// up to ten a second for the holders alone at 10,000 agents.
//
// The stat was there for two things, both kept: the size to truncate back to when an append
// fails, and whether the file is new (then the directory is fsynced too, so the file's name is
// durable). The size is read once when the file is opened and then counted; only this process
// writes the store's files (the lock file), so nothing else moves it. A file deleted or renamed
// underneath a running store was never safe (the per-append open would have started a new,
// empty file and lost the earlier lines just the same).
import { open, type FileHandle } from 'node:fs/promises';

export interface AppendFileOptions {
  /** fsync after every append (off only in tests). */
  readonly fsync: boolean;
  /** fsyncs the directory holding the file (made durable when an append created the file). */
  readonly syncDir: () => Promise<void>;
  /** Told when a failed append could not be taken back: the file may hold part of it. */
  readonly onUntakenBack: (cause: Error) => void;
}

export class AppendFile {
  private handle: FileHandle | undefined;
  /** Bytes in the file: read when it is opened, then counted by the appends. */
  private size = 0;
  /** Appends and the close run one at a time (the close waits for an append in flight). */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly opts: AppendFileOptions,
  ) {}

  /**
   * Appends `text` and fsyncs it (and the directory, when the file was empty: it may have just
   * been created). On a failure whatever part reached the file is truncated away and the
   * descriptor closed (the next append opens the file again); resolves to the bytes appended.
   */
  append(text: string): Promise<number> {
    const run = this.chain.then(() => this.write(Buffer.from(text)));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Closes the descriptor once the appends in flight are done; the next append opens the file again. */
  close(): Promise<void> {
    const run = this.chain.then(() => this.release());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async write(bytes: Buffer): Promise<number> {
    let fh = this.handle;
    if (!fh) {
      fh = await open(this.path, 'a', 0o600);
      try {
        this.size = (await fh.stat()).size;
      } catch (err) {
        await fh.close().catch(() => undefined);
        throw err;
      }
      this.handle = fh;
    }
    const before = this.size;
    try {
      await fh.writeFile(bytes);
      if (this.opts.fsync) {
        await fh.sync();
        // Inside the try: a line whose file's name is not durable is taken back too, or it would
        // be replayed after a restart although its write was reported as failed.
        if (before === 0) await this.opts.syncDir();
      }
    } catch (err) {
      // A part may be on disk (a full disk): take it back, or the next line would follow a torn
      // one and the next open would drop both (or replay a write reported as failed).
      await fh.truncate(before).catch((cause: unknown) => this.opts.onUntakenBack(cause as Error));
      await this.release().catch(() => undefined);
      throw err;
    }
    this.size = before + bytes.length;
    return bytes.length;
  }

  private async release(): Promise<void> {
    const fh = this.handle;
    this.handle = undefined;
    await fh?.close();
  }
}
