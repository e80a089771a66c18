import { readFileSync } from 'node:fs';
import { checkSpecText } from '@lbha/coordinator/spec';
import type { ConfigIssue } from '@lbha/shared';
import type { pbControl } from '@lbha/shared/control';
import type { CliCommand, CommandContext } from '../command.js';
import { call } from '../control-client.js';
import { UsageError } from '../errors.js';
import { printable } from '../terminal-text.js';

export function readSpec(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

function printErrors(ctx: CommandContext, file: string, errors: readonly (pbControl.SpecError | ConfigIssue)[], kind = ''): void {
  for (const e of errors) ctx.progress(`${printable(`${file}${e.line > 0 ? `:${e.line}:${e.column}` : ''}: ${kind}${e.path ? `${e.path}: ` : ''}${e.message}`)}\n`);
}

/** What a valid spec risks, on stderr beside the verdict: it is valid and applies all the same. */
function printWarnings(ctx: CommandContext, file: string, warnings: readonly (pbControl.SpecError | ConfigIssue)[]): void {
  printErrors(ctx, file, warnings, 'warning: ');
}

/**
 * `lbha spec validate FILE`: the coordinator's own parser and rules, run here, so a pipeline can
 * check a spec before any coordinator exists (as `nginx -t` or `promtool check` do).
 */
function validateOffline(ctx: CommandContext, file: string, yaml: string): number {
  const r = checkSpecText(yaml);
  const json = ctx.values['json'] === true;
  const warnings = r.ok ? r.value.warnings.map(({ path, line, column, message }) => ({ path, line, column, message })) : [];
  if (json) ctx.out(JSON.stringify({ valid: r.ok, errors: r.ok ? [] : r.issues, warnings }, null, 2) + '\n');
  if (!r.ok) {
    printErrors(ctx, file, r.issues);
    if (!json) ctx.progress(`lbha: ${file} is not a valid spec (${r.issues.length} problem${r.issues.length === 1 ? '' : 's'})\n`);
    return 1;
  }
  const { spec } = r.value;
  const vips = spec.clusters.reduce((n, c) => n + c.vips.length, 0);
  if (!json) {
    printWarnings(ctx, file, warnings);
    const warned = warnings.length === 0 ? '' : `, ${warnings.length} warning${warnings.length === 1 ? '' : 's'}`;
    ctx.out(`${file} is valid: ${spec.clusters.length} cluster${spec.clusters.length === 1 ? '' : 's'}, ${vips} VIP${vips === 1 ? '' : 's'}${warned} (lbha spec diff FILE shows what applying it would change)\n`);
  }
  return 0;
}

function printChanges(ctx: CommandContext, changes: readonly string[]): void {
  ctx.out(changes.length === 0 ? 'no changes\n' : changes.map((c) => `${printable(c)}\n`).join(''));
}

export const specCommand: CliCommand = {
  name: 'spec',
  summary: 'cluster spec: validate FILE (offline), diff FILE, apply FILE [--dry-run], show',
  usage: 'lbha spec validate|diff|apply FILE [--dry-run] [--expect-version N] [--reason TEXT] | lbha spec show [--json]',
  words: ['validate', 'diff', 'apply', 'show'],
  options: {
    'dry-run': { type: 'boolean', help: 'apply: say what would change, change nothing' },
    'expect-version': { type: 'string', arg: 'N', help: 'apply: refuse unless the running spec is version N' },
    reason: { type: 'string', arg: 'TEXT', help: 'apply: why, recorded in the event log' },
  },
  async run(ctx) {
    const [sub, file, extra] = ctx.positionals;
    if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`);
    if (sub === 'validate') {
      if (!file) throw new UsageError('spec validate needs a FILE');
      return validateOffline(ctx, file, readSpec(file));
    }
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
    if (sub === 'diff') {
      const res = await call(client, ctx.config, client.validateSpec, { yaml });
      if (ctx.config.json) ctx.out(JSON.stringify(res, null, 2) + '\n');
      if (!res.valid) {
        printErrors(ctx, file, res.errors);
        if (!ctx.config.json) ctx.progress(`lbha: ${file} is not a valid spec (${res.errors.length} problem${res.errors.length === 1 ? '' : 's'})\n`);
        return 1;
      }
      if (!ctx.config.json) {
        printWarnings(ctx, file, res.warnings);
        printChanges(ctx, res.changes);
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
      printWarnings(ctx, file, res.warnings);
      printChanges(ctx, res.changes);
      ctx.out(dryRun ? `dry run: nothing applied (running spec is version ${res.version})\n` : `applied spec version ${res.version}\n`);
    }
    return 0;
  },
};
