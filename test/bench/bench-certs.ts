// Agent client certificates for the scale benchmark, signed in-process by the dev CA's key.
// The dev CA (packages/coordinator/src/auth/dev-ca.ts) runs openssl three times per
// certificate: about 5 minutes for 10,000 agents. Here one key pair is shared by every agent
// and each certificate is a small DER structure signed with node:crypto, so 10,000 take a second.
// The certificates carry what the coordinator checks (issuer, validity, the
// spiffe://lbha/agent/<node> URI, clientAuth); they are for the benchmark only.
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

const der = (tag: number, body: Buffer): Buffer => {
  const n = body.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
};
const seq = (...items: Buffer[]): Buffer => der(0x30, Buffer.concat(items));
const oid = (dotted: string): Buffer => {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const bytes = [40 * a + b];
  for (const v of rest) {
    const enc = [v & 0x7f];
    for (let x = v >> 7; x > 0; x >>= 7) enc.unshift((x & 0x7f) | 0x80);
    bytes.push(...enc);
  }
  return der(0x06, Buffer.from(bytes));
};
const utcTime = (d: Date): Buffer => der(0x17, Buffer.from(`${d.toISOString().slice(2, 19).replace(/[-:T]/g, '')}Z`));
const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

/** The elements of a DER SEQUENCE (tag and length included), read from `buf` at `at`. */
function children(buf: Buffer, at = 0): Buffer[] {
  const header = (p: number): { start: number; end: number } => {
    const first = buf[p + 1] as number;
    if (first < 0x80) return { start: p + 2, end: p + 2 + first };
    const k = first & 0x7f;
    let n = 0;
    for (let i = 0; i < k; i++) n = n * 256 + (buf[p + 2 + i] as number);
    return { start: p + 2 + k, end: p + 2 + k + n };
  };
  const outer = header(at);
  const out: Buffer[] = [];
  for (let p = outer.start; p < outer.end; ) {
    const h = header(p);
    out.push(buf.subarray(p, h.end));
    p = h.end;
  }
  return out;
}

export interface AgentCertificates {
  readonly caPem: Buffer;
  /** The private key every agent certificate is issued for (PEM). */
  readonly keyPem: Buffer;
  /** A certificate (PEM) for the agent of `node`. */
  certFor(node: string): Buffer;
}

export function agentCertificates(caCertFile: string, caKeyFile: string): AgentCertificates {
  const caPem = readFileSync(caCertFile);
  const caKey: KeyObject = createPrivateKey(readFileSync(caKeyFile));
  const b64 = caPem.toString().replace(/-----[^-]+-----|\s/g, '');
  const caTbs = children(Buffer.from(b64, 'base64'))[0] as Buffer;
  // tbsCertificate: [0] version, serial, signature, issuer, validity, subject, ...
  const caSubject = children(caTbs)[5] as Buffer;
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const now = Date.now();
  const validity = seq(utcTime(new Date(now - 3600_000)), utcTime(new Date(now + 7 * 86400_000)));
  const critical = der(0x01, Buffer.from([0xff]));
  const extensions = (node: string): Buffer =>
    der(
      0xa3,
      seq(
        seq(oid('2.5.29.19'), critical, der(0x04, seq())),
        seq(oid('2.5.29.15'), critical, der(0x04, der(0x03, Buffer.from([0x07, 0x80])))),
        seq(oid('2.5.29.37'), der(0x04, seq(oid('1.3.6.1.5.5.7.3.2')))),
        seq(oid('2.5.29.17'), der(0x04, seq(der(0x86, Buffer.from(`spiffe://lbha/agent/${node}`))))),
      ),
    );
  return {
    caPem,
    keyPem: Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string),
    certFor(node: string): Buffer {
      const serial = randomBytes(12);
      serial[0] = ((serial[0] as number) & 0x7f) | 0x40; // positive, and no padding byte to strip
      const subject = seq(der(0x31, seq(oid('2.5.4.10'), der(0x0c, Buffer.from('lbha')))), der(0x31, seq(oid('2.5.4.3'), der(0x0c, Buffer.from(node)))));
      const tbs = seq(der(0xa0, der(0x02, Buffer.from([2]))), der(0x02, serial), ECDSA_SHA256, caSubject, validity, subject, spki, extensions(node));
      const signature = sign('sha256', tbs, caKey);
      const cert = seq(tbs, ECDSA_SHA256, der(0x03, Buffer.concat([Buffer.from([0]), signature])));
      const lines = cert.toString('base64').match(/.{1,64}/g) ?? [];
      return Buffer.from(`-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`);
    },
  };
}
