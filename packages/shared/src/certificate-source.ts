// TLS material (CA bundle, certificate, key) read from PEM files and re-read when they change,
// so certificates rotate without a restart. A new set is checked before it is used: a half-written
// file or a key that does not match its certificate is refused and the previous set stays in force.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, realpathSync, statSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
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

/** The backstop poll of watched files. */
const DEFAULT_POLL_MS = 60_000;
/** How long after a directory event the files are looked at (a rotation writes several). */
const SETTLE_MS = 50;

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
  /**
   * The files are watched through their directories (inotify) and, as a backstop, polled this
   * often (default 60 s); 0 turns both off (reload() still works).
   */
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
  // Watching: one inotify watch per directory that holds a file or the target of a file's
  // symlink, so an in-place write, a rename over the file (most tools), a new symlink renamed
  // over the old one (certbot's live/ directory) and the swap of a `..data` symlink (Kubernetes
  // secret volumes, cert-manager) all wake the source; it then compares the files' stats (the
  // link targets', so a swapped link shows) and reloads when one changed. The slow poll covers
  // what inotify cannot see (a directory that could not be watched, or was replaced).
  private readonly dirWatchers = new Map<string, FSWatcher>();
  private stamp = '';
  private pollTimer: NodeJS.Timeout | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  private readonly onDirEvent = (): void => {
    // A rotation writes several files in a row: look once they have settled.
    this.settleTimer ??= setTimeout(() => {
      this.settleTimer = undefined;
      this.look();
    }, SETTLE_MS).unref();
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
    const interval = options.watchIntervalMs ?? DEFAULT_POLL_MS;
    if (interval > 0) {
      this.stamp = this.fileStamp();
      this.watchDirectories();
      this.pollTimer = setInterval(() => this.look(), interval).unref();
    }
  }

  private get paths(): string[] {
    const f = this.files;
    return [...new Set([f.ca, f.cert, f.key, ...(f.crl ? [f.crl] : [])])];
  }

  /** Identity, size and time of each file (through its symlinks), or its absence. */
  private fileStamp(): string {
    return this.paths
      .map((p) => {
        try {
          const st = statSync(p);
          return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
        } catch {
          return '-';
        }
      })
      .join(' ');
  }

  /** Reloads when a file changed since the last look; watches the directories that hold them now. */
  private look(): void {
    if (!this.pollTimer) return;
    const stamp = this.fileStamp();
    if (stamp !== this.stamp) {
      this.stamp = stamp;
      this.reload('file change');
    }
    this.watchDirectories();
  }

  private watchDirectories(): void {
    const dirs = new Set<string>();
    for (const p of this.paths) {
      dirs.add(dirname(p));
      try {
        dirs.add(dirname(realpathSync(p)));
      } catch {
        // Missing for now: its directory is watched, the poll covers the rest.
      }
    }
    for (const [dir, w] of this.dirWatchers) {
      if (dirs.has(dir)) continue;
      w.close();
      this.dirWatchers.delete(dir);
    }
    for (const dir of dirs) {
      if (this.dirWatchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, this.onDirEvent);
        // A directory that went away: dropped, and watched again if it comes back (the poll).
        w.on('error', () => {
          w.close();
          if (this.dirWatchers.get(dir) === w) this.dirWatchers.delete(dir);
        });
        this.dirWatchers.set(dir, w);
      } catch {
        // Cannot be watched (missing, no inotify): the poll still sees changes.
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
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.pollTimer = this.settleTimer = undefined;
    for (const w of this.dirWatchers.values()) w.close();
    this.dirWatchers.clear();
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
