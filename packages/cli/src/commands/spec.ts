import { readFileSync } from 'node:fs';
import type { pbControl } from '@lbha/shared';
import type { CliCommand, CommandContext } from '../command.js';
import { call } from '../control-client.js';
import { UsageError } from '../errors.js';
import { printable } from '../terminal-text.js';

function readSpec(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

function printErrors(ctx: CommandContext, file: string, errors: readonly pbControl.SpecError[]): void {
  for (const e of errors) ctx.progress(`${printable(`${file}${e.line > 0 ? `:${e.line}:${e.column}` : ''}: ${e.path ? `${e.path}: ` : ''}${e.message}`)}\n`);
}

function printChanges(ctx: CommandContext, changes: readonly string[]): void {
  ctx.out(changes.length === 0 ? 'no changes\n' : changes.map((c) => `${printable(c)}\n`).join(''));
}

export const specCommand: CliCommand = {
  name: 'spec',
  summary: 'cluster spec: validate FILE, diff FILE, apply FILE [--dry-run], show',
  usage: 'lbha spec validate|diff|apply FILE [--dry-run] [--expect-version N] [--reason TEXT] | lbha spec show [--json]',
  options: { 'dry-run': { type: 'boolean' }, 'expect-version': { type: 'string' }, reason: { type: 'string' } },
  async run(ctx) {
    const [sub, file, extra] = ctx.positionals;
    if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`);
    const client = ctx.client();
    if (sub === 'show') {
      if (file !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(file)}`);
      const res = await call(client, ctx.config, client.getSpec, {});
      if (ctx.config.json) ctx.out(JSON.stringify(res, null, 2) + '\n');
      else ctx.out(res.version === 0 ? '# no spec applied yet\n' : `# spec version ${res.version}\n${res.yaml}${res.yaml.endsWith('\n') ? '' : '\n'}`);
      return 0;
    }
    if (sub !== 'validate' && sub !== 'diff' && sub !== 'apply') throw new UsageError('spec needs validate, diff, apply or show');
    if (!file) throw new UsageError(`spec ${sub} needs a FILE`);
    const yaml = readSpec(file);
    if (sub === 'validate' || sub === 'diff') {
      const res = await call(client, ctx.config, client.validateSpec, { yaml });
      if (ctx.config.json) ctx.out(JSON.stringify(res, null, 2) + '\n');
      if (!res.valid) {
        printErrors(ctx, file, res.errors);
        if (!ctx.config.json) ctx.progress(`lbha: ${file} is not a valid spec (${res.errors.length} problem${res.errors.length === 1 ? '' : 's'})\n`);
        return 1;
      }
      if (!ctx.config.json) {
        if (sub === 'validate') ctx.out(`${file} is valid${res.changes.length ? `; applying it would change:` : '; it matches the running spec'}\n`);
        if (sub === 'diff' || res.changes.length > 0) printChanges(ctx, res.changes);
      }
      return 0;
    }
    const expectText = ctx.values['expect-version'] as string | undefined;
    const expectedVersion = expectText === undefined ? 0 : Number(expectText);
    if (!Number.isInteger(expectedVersion) || expectedVersion < 0) throw new UsageError('--expect-version must be a spec version number');
    const dryRun = ctx.values['dry-run'] === true;
    const res = await call(client, ctx.config, client.applySpec, { yaml, dryRun, expectedVersion, reason: (ctx.values['reason'] as string | undefined) ?? '' });
    if (ctx.config.json) ctx.out(JSON.stringify(res, null, 2) + '\n');
    if (res.errors.length > 0) {
      printErrors(ctx, file, res.errors);
      if (!ctx.config.json) ctx.progress(`lbha: spec refused; nothing changed\n`);
      return 1;
    }
    if (!ctx.config.json) {
      printChanges(ctx, res.changes);
      ctx.out(dryRun ? `dry run: nothing applied (running spec is version ${res.version})\n` : `applied spec version ${res.version}\n`);
    }
    return 0;
  },
};
