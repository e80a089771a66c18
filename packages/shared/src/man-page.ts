// Renders a ProgramDoc as a man page (roff, man(7) macros), so `man lbha` shows exactly the flags
// and commands the program parses.
import { flagLabel, type FlagSpecs, type ProgramDoc } from './program-doc.js';

/** Escapes text for roff: backslashes, leading dots and quotes, and hyphens meant as minus signs. */
function esc(text: string): string {
  const body = text.replace(/\\/g, '\\e').replace(/-/g, '\\-');
  return /^[.']/.test(body) ? `\\&${body}` : body;
}

function flagsBlock(flags: FlagSpecs): string[] {
  return Object.entries(flags).flatMap(([name, f]) => ['.TP', `.B ${esc(flagLabel(name, f))}`, esc(f.help)]);
}

function paragraph(p: string): string[] {
  if (p.startsWith('  ')) return ['.PP', '.nf', '.RS 4', ...p.split('\n').map((l) => esc(l.replace(/^ {2}/, ''))), '.RE', '.fi'];
  return ['.PP', esc(p)];
}

export interface ManPageMeta {
  readonly version: string;
  /** YYYY-MM-DD (the release date; fixed, so that the page is reproducible). */
  readonly date: string;
  readonly section?: number;
}

export function renderManPage(doc: ProgramDoc, meta: ManPageMeta): string {
  const section = meta.section ?? 1;
  const lines: string[] = [
    `.TH ${doc.name.toUpperCase()} ${section} "${meta.date}" "lbha ${esc(meta.version)}" "lbha manual"`,
    '.SH NAME',
    `${esc(doc.name)} \\- ${esc(doc.summary)}`,
    '.SH SYNOPSIS',
    ...doc.synopsis.flatMap((s, i) => (i === 0 ? ['.nf', esc(s)] : [esc(s)])),
    '.fi',
    '.SH DESCRIPTION',
    ...doc.description.flatMap(paragraph),
  ];
  if (Object.keys(doc.options).length > 0) lines.push('.SH OPTIONS', ...flagsBlock(doc.options));
  if (doc.commands.length > 0) {
    lines.push('.SH COMMANDS');
    for (const c of doc.commands) {
      lines.push('.TP', `.B ${esc(c.usage)}`, esc(c.summary));
      if (Object.keys(c.options).length > 0) lines.push('.RS', ...flagsBlock(c.options), '.RE');
    }
  }
  for (const s of doc.sections) lines.push(`.SH ${esc(s.title.toUpperCase())}`, ...s.paragraphs.flatMap(paragraph));
  return `${lines.join('\n')}\n`;
}
