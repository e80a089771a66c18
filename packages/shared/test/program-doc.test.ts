import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { describe, it } from 'node:test';
import { Writable } from 'node:stream';
import { createLogger, DAEMON_OPTIONS, flagHelp, parseArgsOptions, parseDaemonArgs, renderManPage, setLogLevel, type ProgramDoc } from '../src/index.js';

const DOC: ProgramDoc = {
  name: 'demo',
  summary: 'a demo - with a hyphen',
  synopsis: ['demo [--x N]'],
  description: ['.starts with a dot', 'back\\slash'],
  options: { x: { type: 'string', short: 'x', arg: 'N', help: 'the x' }, y: { type: 'boolean', help: 'the y' } },
  commands: [{ name: 'go', summary: 'go somewhere', usage: 'demo go WHERE', options: { fast: { type: 'boolean', help: 'quickly' } } }],
  sections: [{ title: 'Examples', paragraphs: ['  demo go home'] }],
};

describe('program docs', () => {
  it('the parseArgs options are the documented flags', () => {
    const { values } = parseArgs({ args: ['-x', '3', '--y'], options: parseArgsOptions(DOC.options), strict: true });
    assert.deepEqual({ ...values }, { x: '3', y: true });
    assert.throws(() => parseArgs({ args: ['--z'], options: parseArgsOptions(DOC.options), strict: true }));
    assert.deepEqual(flagHelp(DOC.options), ['  --x N, -x N  the x', '  --y          the y']);
  });

  it('renders a man page that man(1) formats, with every flag and command', () => {
    const page = renderManPage(DOC, { version: '1.2.3', date: '2026-01-02', section: 8 });
    assert.match(page, /^\.TH DEMO 8 "2026-01-02" "lbha 1\.2\.3"/);
    assert.match(page, /^\\&\.starts with a dot$/m, 'a leading dot is escaped');
    const dir = mkdtempSync(join(tmpdir(), 'lbha-man-'));
    try {
      writeFileSync(join(dir, 'demo.8'), page);
      const text = execFileSync('man', ['-l', join(dir, 'demo.8')], { env: { ...process.env, MANWIDTH: '100', MAN_KEEP_FORMATTING: '' }, encoding: 'utf8' }).replace(new RegExp(`.${String.fromCharCode(8)}`, 'g'), ''); // overstrike bold
      for (const s of ['--x N, -x N', 'the x', '--y', 'demo go WHERE', 'go somewhere', '--fast', 'quickly', 'demo go home', 'back\\slash']) assert.ok(text.includes(s), `${s} missing from:\n${text}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('daemon arguments: --check, --version, --help and bad flags', () => {
    const out: string[] = [];
    const err: string[] = [];
    const spec = { program: 'lbha-x', version: '9.9', envVar: 'X_CONFIG', defaultFile: '/etc/x.yaml' };
    const p = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseDaemonArgs(spec, argv, env, (s) => out.push(s), (s) => err.push(s));
    assert.deepEqual(p([]), { kind: 'run', file: '/etc/x.yaml' });
    assert.deepEqual(p(['--check'], { X_CONFIG: '/e.yaml' }), { kind: 'check', file: '/e.yaml' });
    assert.deepEqual(p(['--check', '-c', '/f.yaml'], { X_CONFIG: '/e.yaml' }), { kind: 'check', file: '/f.yaml' });
    assert.deepEqual(p(['--version']), { kind: 'exit', code: 0 });
    assert.match(out.at(-1) ?? '', /^lbha-x 9\.9 \(Node\.js \d+\./);
    assert.deepEqual(p(['--help']), { kind: 'exit', code: 0 });
    for (const flag of Object.keys(DAEMON_OPTIONS)) assert.ok(out.at(-1)?.includes(`--${flag}`), flag);
    assert.deepEqual(p(['--bogus']), { kind: 'exit', code: 2 });
    assert.match(err.at(-1) ?? '', /^lbha-x: Unknown option '--bogus'/);
  });

  it('setLogLevel reaches children made before the change', () => {
    const lines: string[] = [];
    const destination = new Writable({ write: (c: Buffer, _e, done) => (lines.push(c.toString()), done()) });
    const root = createLogger('t', { level: 'info', destination });
    const grandchild = root.child({ a: 1 }).child({ b: 2 });
    grandchild.debug('hidden');
    setLogLevel(root, 'debug');
    grandchild.debug('shown');
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as { msg: string }).msg), ['shown']);
  });
});
