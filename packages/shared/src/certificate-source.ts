// TLS material (CA bundle, certificate, key) read from PEM files and re-read when they change,
// so certificates rotate without a restart. A new set is checked before it is used: a half-written
// file or a key that does not match its certificate is refused and the previous set stays in force.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { experimental, type ChannelCredentials } from '@grpc/grpc-js';
import { checkCoordinatorIdentity } from './coordinator-identity.js';
import { loosePermissions } from './file-permissions.js';
import type { Logger } from './logger.js';

export interface CertificateFiles {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  /** Certificate revocation lists (PEM) for the CAs of the bundle; servers refuse what they list. */
  readonly crl?: string | undefined;
  /** Load a key file other users can read (tls.allowLooseKeyPermissions); refused otherwise. */
  readonly allowLooseKeyPermissions?: boolean;
}

/** One loaded, consistent set of TLS material. */
export interface CertificateSet {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
  /** The revocation lists, when a CRL file is configured. */
  readonly crl: Buffer | undefined;
  /** Every certificate of the CA bundle (a bundle may hold the old and the new CA during a rotation). */
  readonly authorities: readonly X509Certificate[];
  /** The leaf certificate of `cert`. */
  readonly leaf: X509Certificate;
}

export type CertificateLoad = { readonly ok: true; readonly set: CertificateSet } | { readonly ok: false; readonly error: string };

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Reads and checks one set of files; never throws. */
export function loadCertificateFiles(files: CertificateFiles): CertificateLoad {
  const loose = loosePermissions(files.key);
  if (loose && !files.allowLooseKeyPermissions) return { ok: false, error: `${loose} (or set allowLooseKeyPermissions: true)` };
  let ca: Buffer, cert: Buffer, key: Buffer;
  let crl: Buffer | undefined;
  try {
    ca = readFileSync(files.ca);
    cert = readFileSync(files.cert);
    key = readFileSync(files.key);
    if (files.crl) crl = readFileSync(files.crl);
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  try {
    const authorities = (ca.toString('utf8').match(PEM_CERT) ?? []).map((pem) => new X509Certificate(pem));
    if (authorities.length === 0) return { ok: false, error: `${files.ca}: no PEM certificate found` };
    const leafPem = cert.toString('utf8').match(PEM_CERT)?.[0];
    if (!leafPem) return { ok: false, error: `${files.cert}: no PEM certificate found` };
    const leaf = new X509Certificate(leafPem);
    if (!leaf.checkPrivateKey(createPrivateKey(key))) {
      return { ok: false, error: `${files.key} does not match the certificate in ${files.cert}` };
    }
    // The same check Node does when it builds a TLS context: catches anything the parse above missed.
    createSecureContext({ ca, cert, key });
    if (crl) {
      if (!/-----BEGIN X509 CRL-----/.test(crl.toString('utf8'))) return { ok: false, error: `${files.crl}: no PEM certificate revocation list found` };
      try {
        createSecureContext({ ca, cert, key, crl });
      } catch (err) {
        return { ok: false, error: `${files.crl}: ${(err as Error).message}` };
      }
    }
    return { ok: true, set: { ca, cert, key, crl, authorities, leaf } };
  } catch (err) {
    return { ok: false, error: `${files.cert}/${files.key}/${files.ca}: ${(err as Error).message}` };
  }
}

export interface CertificateSourceOptions {
  /** How often the files' modification times are polled; 0 turns watching off (reload() still works). */
  readonly watchIntervalMs?: number;
  readonly logger?: Logger;
}

/**
 * The current TLS material of a process. Starts from a set that must load; afterwards `reload()`
 * (on SIGHUP) and the file watcher swap in a new set only when it loads and checks out.
 * Implements grpc-js's CertificateProvider, so channel credentials built on it use the newest
 * set for every new connection.
 */
export class CertificateSource implements experimental.CertificateProvider {
  private set: CertificateSet;
  private readonly listeners = new Set<(set: CertificateSet) => void>();
  private readonly caListeners = new Set<experimental.CaCertificateUpdateListener>();
  private readonly identityListeners = new Set<experimental.IdentityCertificateUpdateListener>();
  private readonly watched: string[] = [];
  private readonly onFileChange = (cur: Stats, prev: Stats) => {
    if (cur.mtimeMs !== prev.mtimeMs || cur.ino !== prev.ino || cur.size !== prev.size) this.reload('file change');
  };

  constructor(
    readonly files: CertificateFiles,
    private readonly options: CertificateSourceOptions = {},
  ) {
    const first = loadCertificateFiles(files);
    if (!first.ok) throw new Error(`cannot load TLS files: ${first.error}`);
    this.set = first.set;
    const loose = loosePermissions(files.key);
    if (loose) options.logger?.warn({ event: 'tls.key_permissions', key: files.key }, `${loose}; accepted because allowLooseKeyPermissions is set`);
    const interval = options.watchIntervalMs ?? 1000;
    if (interval > 0) {
      for (const f of new Set([files.ca, files.cert, files.key, ...(files.crl ? [files.crl] : [])])) {
        watchFile(f, { interval, persistent: false }, this.onFileChange);
        this.watched.push(f);
      }
    }
  }

  get current(): CertificateSet {
    return this.set;
  }

  /** Re-reads the files; keeps the current set when the new one does not load. */
  reload(why = 'reload requested'): CertificateLoad {
    const next = loadCertificateFiles(this.files);
    if (!next.ok) {
      this.options.logger?.error({ event: 'tls.reload_failed', why, err: next.error }, 'new TLS files refused; keeping the previous ones');
      return next;
    }
    const s = next.set;
    const sameCrl = s.crl === undefined ? this.set.crl === undefined : this.set.crl !== undefined && s.crl.equals(this.set.crl);
    if (s.ca.equals(this.set.ca) && s.cert.equals(this.set.cert) && s.key.equals(this.set.key) && sameCrl) return next;
    this.set = s;
    this.options.logger?.info(
      { event: 'tls.reloaded', why, subject: s.leaf.subject.replace(/\n/g, ', '), validTo: s.leaf.validTo, serial: s.leaf.serialNumber },
      'TLS certificates reloaded',
    );
    for (const l of this.listeners) l(s);
    this.publish();
    return next;
  }

  /** Called with every new set after it replaced the previous one. */
  onChange(listener: (set: CertificateSet) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    for (const f of this.watched.splice(0)) unwatchFile(f, this.onFileChange);
    this.listeners.clear();
  }

  private publish(): void {
    for (const l of this.caListeners) l({ caCertificate: this.set.ca });
    for (const l of this.identityListeners) l({ certificate: this.set.cert, privateKey: this.set.key });
  }

  // grpc-js CertificateProvider. Listeners get the current set right away (asynchronously, as
  // grpc-js registers its own watchers after adding the listener).
  addCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.caListeners.add(listener);
    queueMicrotask(() => this.caListeners.has(listener) && listener({ caCertificate: this.set.ca }));
  }
  removeCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.caListeners.delete(listener);
  }
  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => this.identityListeners.has(listener) && listener({ certificate: this.set.cert, privateKey: this.set.key }));
  }
  removeIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(listener);
  }
}

/**
 * Client credentials that pick up rotated certificate files: every new connection (each
 * reconnect) uses the newest set. A different server name goes in the channel options
 * (`grpc.ssl_target_name_override`), as with static credentials.
 */
export function watchedClientCredentials(source: CertificateSource): ChannelCredentials {
  // One provider serves both roles: grpc-js takes the CA and the identity from it.
  // The server must be a coordinator, not merely hold a certificate from the same CA.
  return experimental.createCertificateProviderChannelCredentials(source, source, { checkServerIdentity: checkCoordinatorIdentity });
}
