// The one description of a program's command line: its flags are what `parseArgs` parses, and the
// same objects produce --help, the man page and (for lbha) shell completion, so none can drift.
import type { ParseArgsConfig } from 'node:util';

/** One flag: a `parseArgs` option plus what a person needs to know about it. */
export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** One line: what the flag does. */
  readonly help: string;
  /** Placeholder of a string flag's value in usage lines (FILE, NAME...). */
  readonly arg?: string;
  /** What a shell may complete the value with; default: nothing for NAME-like values, files for FILE. */
  readonly complete?: 'file' | 'dir' | 'none' | readonly string[];
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/** A subcommand, for programs that have them. */
export interface CommandDoc {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly options: FlagSpecs;
  /** Words that may follow the command name (subcommands such as `spec validate`). */
  readonly words?: readonly string[];
}

export interface ManSection {
  readonly title: string;
  /** Paragraphs; a paragraph starting with two spaces is printed verbatim (an example). */
  readonly paragraphs: readonly string[];
}

export interface ProgramDoc {
  readonly name: string;
  /** One line for the NAME section. */
  readonly summary: string;
  readonly synopsis: readonly string[];
  readonly description: readonly string[];
  readonly options: FlagSpecs;
  readonly commands: readonly CommandDoc[];
  readonly sections: readonly ManSection[];
}

/** The `parseArgs` options of a set of flags (the descriptions are left out). */
export function parseArgsOptions(flags: FlagSpecs): NonNullable<ParseArgsConfig['options']> {
  const out: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, f] of Object.entries(flags)) {
    out[name] = { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) };
  }
  return out;
}

/** `--name ARG, -s ARG` as a person reads it in help and man pages. */
export function flagLabel(name: string, f: FlagSpec): string {
  const arg = f.type === 'string' ? ` ${f.arg ?? 'VALUE'}` : '';
  return `--${name}${arg}${f.short ? `, -${f.short}${arg}` : ''}`;
}

/** Help lines for a set of flags, aligned. */
export function flagHelp(flags: FlagSpecs, indent = '  '): string[] {
  const entries = Object.entries(flags).map(([name, f]) => [flagLabel(name, f), f.help] as const);
  const width = Math.max(0, ...entries.map(([l]) => l.length));
  return entries.map(([l, h]) => `${indent}${l.padEnd(width)}  ${h}`);
}
