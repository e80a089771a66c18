// Puts a rendered keepalived.conf in place: unchanged text does nothing; new text is tested
// with `keepalived -t` as a candidate file first, the accepted file replaces the old one by
// atomic rename (the old one is kept as .last-good), and keepalived is reloaded with SIGHUP.
import { copyFile, mkdir, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { describeOutcome, type CommandRunner } from '../util/run-command.js';
import type { KeepalivedFiles } from './keepalived-files.js';

export type ApplyOutcome =
  | { readonly ok: true; readonly changed: boolean }
  | { readonly ok: false; readonly error: string };

export class ConfigApplier {
  constructor(
    private readonly opts: { readonly binary: string; readonly files: KeepalivedFiles; readonly run: CommandRunner },
  ) {}

  async current(): Promise<string> {
    try {
      return await readFile(this.opts.files.configFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Runs keepalived's config test on `text` without touching the live file. */
  async test(text: string): Promise<ApplyOutcome> {
    const { configFile } = this.opts.files;
    if ((await this.current()) === text) return { ok: true, changed: false };
    await mkdir(dirname(configFile), { recursive: true });
    const candidate = `${configFile}.candidate`;
    await writeFileAtomic(candidate, text);
    try {
      const r = await this.opts.run(this.opts.binary, ['-t', '-f', candidate], { timeoutMs: 30_000 });
      if (r.exitCode !== 0 || r.timedOut) {
        return { ok: false, error: `keepalived rejected the configuration (keepalived -t): ${describeOutcome(r).replaceAll(candidate, configFile)}` };
      }
      return { ok: true, changed: true };
    } finally {
      await unlink(candidate).catch(() => undefined);
    }
  }

  /** Installs text that passed test(): the old file is kept as .last-good. */
  async commit(text: string): Promise<void> {
    const { configFile, lastGoodFile } = this.opts.files;
    const before = await this.current();
    if (before === text) return;
    if (before) await copyFile(configFile, lastGoodFile).catch(() => undefined);
    await writeFileAtomic(configFile, text);
  }
}
