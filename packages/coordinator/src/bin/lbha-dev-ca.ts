#!/usr/bin/env node
// lbha-dev-ca: a throwaway CA and certificates for the lab, the demo and tests. Not for production.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { nameProblem, readPackageVersion, versionText } from '@lbha/shared';
import { createDevCa, DevCaError } from '../auth/dev-ca.js';

const USAGE = `usage: lbha-dev-ca --out DIR [--agent NODE]... [--operator NAME]... [--read-only NAME]...
                   [--server-name NAME]... [--token NAME:ROLE]... [--days N] [--new-ca] [--version]

Creates DIR/ca.crt (kept when it exists, unless --new-ca), DIR/coordinator.crt (localhost,
127.0.0.1, ::1 and every --server-name), DIR/agent-NODE.crt, DIR/operator-NAME.crt and
DIR/read-only-NAME.crt, each with its .key. Running it again re-issues the certificates in place,
which a running coordinator and agents pick up without a restart.
--token NAME:ROLE (ROLE: operator or read-only) writes a random token to DIR/token-NAME and prints
the coordinator's auth.tokens entry for it.`;

function main(): number {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        out: { type: 'string', short: 'o' },
        agent: { type: 'string', multiple: true, default: [] },
        operator: { type: 'string', multiple: true, default: [] },
        'read-only': { type: 'string', multiple: true, default: [] },
        'server-name': { type: 'string', multiple: true, default: [] },
        token: { type: 'string', multiple: true, default: [] },
        days: { type: 'string', default: '30' },
        'new-ca': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`lbha-dev-ca: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.version) {
    process.stdout.write(versionText('lbha-dev-ca', readPackageVersion(new URL('../../../package.json', import.meta.url))));
    return 0;
  }
  if (!values.out) {
    process.stderr.write(`lbha-dev-ca: --out DIR is required\n${USAGE}\n`);
    return 2;
  }
  const days = Number(values.days);
  if (!Number.isInteger(days) || days < 1 || days > 3650) {
    process.stderr.write('lbha-dev-ca: --days must be a whole number of days between 1 and 3650\n');
    return 2;
  }
  const tokens: Array<{ name: string; role: string }> = [];
  for (const t of values.token) {
    const [name = '', role = '', ...rest] = t.split(':');
    const p = nameProblem(name);
    if (p || rest.length > 0 || !['operator', 'read-only'].includes(role)) {
      process.stderr.write(`lbha-dev-ca: --token ${JSON.stringify(t)}: expected NAME:operator or NAME:read-only${p ? ` (${p})` : ''}\n`);
      return 2;
    }
    tokens.push({ name, role });
  }
  try {
    const ca = createDevCa({
      dir: values.out,
      agents: values.agent,
      operators: values.operator,
      readOnly: values['read-only'],
      serverNames: values['server-name'],
      days,
      newCa: values['new-ca'],
    });
    process.stdout.write(`CA:          ${ca.ca.cert}\ncoordinator: ${ca.coordinator.cert}\n`);
    for (const [kind, set] of [['agent', ca.agents], ['operator', ca.operators], ['read-only', ca.readOnly]] as const) {
      for (const [name, pair] of Object.entries(set)) process.stdout.write(`${kind.padEnd(12)} ${name}: ${pair.cert}\n`);
    }
    if (tokens.length > 0) {
      mkdirSync(values.out, { recursive: true });
      process.stdout.write('\n# coordinator configuration for the tokens:\nauth:\n  tokens:\n');
      for (const t of tokens) {
        // Hex, so a token never starts with '-' and passes as a command-line argument.
        const token = randomBytes(24).toString('hex');
        const file = join(values.out, `token-${t.name}`);
        writeFileSync(file, `${token}\n`, { mode: 0o600 });
        const sha = createHash('sha256').update(token).digest('hex');
        process.stdout.write(`    - { name: ${t.name}, role: ${t.role}, sha256: ${sha} }  # token in ${file}\n`);
      }
    }
    return 0;
  } catch (err) {
    if (err instanceof DevCaError) {
      process.stderr.write(`lbha-dev-ca: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

process.exitCode = main();
