import type { CommandContext } from './command.js';
import { UsageError } from './errors.js';

/** The value of the option `--name` as a whole number, `dflt` when it is not given. */
export function wholeNumberOption(ctx: CommandContext, name: string, dflt: number): number {
  const v = ctx.values[name] as string | undefined;
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a whole number`);
  return n;
}
