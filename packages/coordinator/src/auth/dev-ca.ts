// A throwaway certificate authority for the lab, the demo and tests: a CA, the coordinator's
// server certificate, one client certificate per agent (identity = node name), operator and
// read-only certificates. Uses the openssl binary with argument arrays; files are replaced by
// rename, so running it again over a live coordinator rotates the certificates cleanly.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { nameProblem } from '@lbha/shared';
import { identityUri, type Role } from './roles.js';

export interface DevCaOptions {
  readonly dir: string;
  /** Names and addresses the coordinator is dialled by, besides localhost, 127.0.0.1 and ::1. */
  readonly serverNames?: readonly string[];
  /** Name in the coordinator's identity URI (spiffe://lbha/coordinator/<name>). */
  readonly coordinatorName?: string;
  readonly agents?: readonly string[];
  readonly operators?: readonly string[];
  readonly readOnly?: readonly string[];
  readonly days?: number;
  /** Make a new CA even when `dir` holds one (the old certificates stop being trusted). */
  readonly newCa?: boolean;
}

export interface KeyPair {
  readonly cert: string;
  readonly key: string;
}

export interface DevCa {
  readonly dir: string;
  readonly ca: KeyPair;
  readonly coordinator: KeyPair;
  readonly agents: Readonly<Record<string, KeyPair>>;
  readonly operators: Readonly<Record<string, KeyPair>>;
  readonly readOnly: Readonly<Record<string, KeyPair>>;
}

/** Thrown when the dev CA cannot be created: a bad name or a failing openssl. */
export class DevCaError extends Error {
  override readonly name = 'DevCaError';
}

function openssl(args: readonly string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string; code?: string };
    if (e.code === 'ENOENT') throw new DevCaError('openssl is not installed (Debian: apt-get install openssl)');
    throw new DevCaError(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() || e.message}`);
  }
}

function newKey(file: string): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file]);
  chmodSync(file, 0o600);
}

function checkName(what: string, name: string): void {
  const p = nameProblem(name);
  if (p) throw new DevCaError(`${what}: ${p}`);
}

/** Creates (or completes) a dev CA in `options.dir`; returns the paths of everything in it. */
export function createDevCa(options: DevCaOptions): DevCa {
  const dir = options.dir;
  const days = String(options.days ?? 30);
  const agents = options.agents ?? [];
  const operators = options.operators ?? [];
  const readOnly = options.readOnly ?? [];
  const coordinatorName = options.coordinatorName ?? 'coordinator';
  for (const n of agents) checkName('agent', n);
  for (const n of operators) checkName('operator', n);
  for (const n of readOnly) checkName('read-only', n);
  checkName('coordinator name', coordinatorName);
  for (const s of options.serverNames ?? []) {
    if (!isIP(s) && !/^[A-Za-z0-9*]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(s)) throw new DevCaError(`server name ${JSON.stringify(s)} is not a host name or address`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const work = mkdtempSync(join(dir, '.work-'));
  try {
    const ca: KeyPair = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
    if (options.newCa || !existsSync(ca.cert) || !existsSync(ca.key)) {
      const key = join(work, 'ca.key');
      const cert = join(work, 'ca.crt');
      newKey(key);
      openssl([
        'req', '-x509', '-new', '-key', key, '-sha256', '-days', String(Number(days) + 1),
        '-subj', `/O=lbha/CN=lbha dev CA ${randomBytes(3).toString('hex')}`,
        '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0',
        '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
        '-out', cert,
      ]);
      renameSync(key, ca.key);
      renameSync(cert, ca.cert);
    }

    const issue = (base: string, cn: string, ou: string, san: string[], usage: string): KeyPair => {
      const out: KeyPair = { cert: join(dir, `${base}.crt`), key: join(dir, `${base}.key`) };
      const key = join(work, `${base}.key`);
      const csr = join(work, `${base}.csr`);
      const cert = join(work, `${base}.crt`);
      const ext = join(work, `${base}.ext`);
      newKey(key);
      openssl(['req', '-new', '-key', key, '-subj', `/O=lbha/OU=${ou}/CN=${cn}`, '-out', csr]);
      writeFileSync(
        ext,
        [
          'basicConstraints=critical,CA:FALSE',
          'keyUsage=critical,digitalSignature,keyEncipherment',
          `extendedKeyUsage=${usage}`,
          `subjectAltName=${san.join(',')}`,
          '',
        ].join('\n'),
      );
      openssl([
        'x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${randomBytes(12).toString('hex')}`,
        '-days', days, '-sha256', '-extfile', ext, '-out', cert,
      ]);
      // Key first: a watcher that reads between the two renames sees a mismatched pair and
      // keeps the old one until the next look.
      renameSync(key, out.key);
      renameSync(cert, out.cert);
      return out;
    };

    const hosts = ['localhost', '127.0.0.1', '::1', ...(options.serverNames ?? [])];
    const serverSan = [...new Set(hosts)].map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`));
    const coordinator = issue('coordinator', coordinatorName, 'coordinator', [...serverSan, `URI:${identityUri('coordinator', coordinatorName)}`], 'serverAuth,clientAuth');
    const client = (role: Role, names: readonly string[]) =>
      Object.fromEntries(names.map((n) => [n, issue(`${role}-${n}`, n, role, [`URI:${identityUri(role, n)}`], 'clientAuth')]));
    return { dir, ca, coordinator, agents: client('agent', agents), operators: client('operator', operators), readOnly: client('read-only', readOnly) };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
