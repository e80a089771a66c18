#!/usr/bin/env node
// Writes the man pages and shell completions of a release from the built packages' own command
// definitions (the objects the programs parse their arguments with), so they cannot drift.
//
//   node deploy/lib/gen-docs.mjs LIBDIR OUTDIR VERSION DATE
//
// LIBDIR holds packages/*/dist (a checkout, or a release tree). Writes OUTDIR/man/lbha.1,
// OUTDIR/man/lbha-agent.8, OUTDIR/man/lbha-coordinator.8, OUTDIR/completions/lbha.bash and
// OUTDIR/completions/_lbha (zsh).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [lib, out, version, date] = process.argv.slice(2);
if (!lib || !out || !version || !/^\d{4}-\d{2}-\d{2}$/.test(date ?? '')) {
  process.stderr.write('usage: gen-docs.mjs LIBDIR OUTDIR VERSION YYYY-MM-DD\n');
  process.exit(2);
}
const load = (pkg) => import(pathToFileURL(join(lib, 'packages', pkg, 'dist/src/index.js')).href);
const shared = await load('shared');
const cli = await load('cli');
const agent = await load('agent');
const coordinator = await load('coordinator');

mkdirSync(join(out, 'man'), { recursive: true });
mkdirSync(join(out, 'completions'), { recursive: true });
const meta = (section) => ({ version, date, section });
writeFileSync(join(out, 'man/lbha.1'), shared.renderManPage(cli.lbhaProgram(), meta(1)));
writeFileSync(join(out, 'man/lbha-agent.8'), shared.renderManPage(agent.AGENT_PROGRAM, meta(8)));
writeFileSync(join(out, 'man/lbha-coordinator.8'), shared.renderManPage(coordinator.COORDINATOR_PROGRAM, meta(8)));
writeFileSync(join(out, 'completions/lbha.bash'), cli.completionScript(cli.lbhaProgram(), 'bash'));
writeFileSync(join(out, 'completions/_lbha'), cli.completionScript(cli.lbhaProgram(), 'zsh'));
