import type { CliCommand } from '../command.js';
import { completionScript, SHELLS, type Shell } from '../completion.js';
import { UsageError } from '../errors.js';
import { lbhaProgram } from '../lbha-program.js';

export const completionCommand: CliCommand = {
  name: 'completion',
  summary: 'print the shell completion script for bash or zsh (works offline)',
  usage: 'lbha completion bash|zsh',
  options: {},
  words: SHELLS,
  async run(ctx) {
    const [shell, extra] = ctx.positionals;
    if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`);
    if (!SHELLS.includes(shell as Shell)) throw new UsageError('completion needs bash or zsh');
    ctx.out(completionScript(lbhaProgram(), shell as Shell));
    return 0;
  },
};
