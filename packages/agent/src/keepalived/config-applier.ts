// Puts a rendered keepalived.conf in place: unchanged text does nothing; new text is tested
// with `keepalived -t` as a candidate file first, the accepted file replaces the old one by
// atomic rename (the old one is kept as .last-good), and keepalived is reloaded with SIGHUP.
// Every copy holds the VRRP passwords, so each is written 0600 whatever the umask.
import { mkdir, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { describeOutcome, type CommandRunner } from '../util/run-command.js';
import type { KeepalivedFiles } from './keepalived-files.js';

/** keepalived.conf carries auth_pass: only its owner (root, or the agent's user) reads it. */
const SECRET_FILE_MODE = 0o600;

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
    await writeFileAtomic(candidate, text, SECRET_FILE_MODE);
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
    if (before) await writeFileAtomic(lastGoodFile, before, SECRET_FILE_MODE).catch(() => undefined);
    await writeFileAtomic(configFile, text, SECRET_FILE_MODE);
  }
}
