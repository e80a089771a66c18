// Domain types of the backend pool: what an agent reports of its proxy's servers and
// configuration, and what the coordinator wants of them (docs/design/backend-pool.md).

/**
 * Whether a server takes new sessions. ready: it does; drain: no new sessions, open ones run to
 * their end; maint: out of service (haproxy stops checking it). nginx marks both `down`.
 */
export type BackendAdmin = 'ready' | 'drain' | 'maint';
export const BACKEND_ADMINS: readonly BackendAdmin[] = ['ready', 'drain', 'maint'];

/** What the proxy's own checks say: up, down, or unknown (no checks, e.g. nginx open source). */
export type BackendHealth = 'up' | 'down' | 'unknown';

/** One server of one pool as one LB node's proxy runs it. */
export interface BackendServer {
  /** haproxy backend, nginx upstream. */
  readonly pool: string;
  /** haproxy server name; nginx: the name the spec gives the address, else the address. */
  readonly server: string;
  readonly address: string;
  readonly admin: BackendAdmin;
  readonly health: BackendHealth;
  readonly weight: number;
  readonly sessions: number;
  /** haproxy check status ("L4OK"...); '' when none. */
  readonly check: string;
  /** lbha can change it (haproxy: always; nginx: servers of pools lbha renders). */
  readonly managed: boolean;
}

export interface ConfigFileDigest {
  readonly path: string;
  /** Hex SHA-256 as compared; '' when the file could not be read. */
  readonly digest: string;
}

/** What an agent reports of its proxy's backends and configuration. */
export interface BackendReport {
  readonly service: string;
  readonly servers: readonly BackendServer[];
  /** Version of the desired state whose backend settings the proxy runs (0: none yet). */
  readonly appliedVersion: number;
  /** Why the backend settings could not be applied; '' when they are. */
  readonly error: string;
  /** The desired-state version `error` is about. */
  readonly errorVersion: number;
  /** Digest of the proxy's effective configuration; '' when unknown. */
  readonly configDigest: string;
  /** Digest over the spec's other files (backends.drift.files); '' when none are listed. */
  readonly filesDigest: string;
  readonly configFiles: readonly ConfigFileDigest[];
  /** Why the backends or the configuration could not be read; '' when they could. */
  readonly observeError: string;
  /** When the report last changed. */
  readonly observedMs: number;
  /**
   * How long after its backends answer again the proxy may take to send to them (haproxy: the
   * longest downinter + (rise - 1) x fastinter of its checked servers); 0 when none or not known.
   */
  readonly readmitMs: number;
}

/** A server of a pool lbha renders for nginx, as the cluster spec declares it. */
export interface DesiredPoolServer {
  readonly name: string;
  /** "192.168.50.22:80" or "[2001:db8::1]:80". */
  readonly address: string;
  /** 0: nginx's default. */
  readonly weight: number;
  /** null: not rendered, nginx's default (1); 0: never marked failed. */
  readonly maxFails: number | null;
  /** null: not rendered, nginx's default (10 s); whole seconds. */
  readonly failTimeoutMs: number | null;
  /** 0: unlimited. */
  readonly maxConns: number;
  readonly backup: boolean;
}

export interface DesiredPool {
  readonly name: string;
  readonly servers: readonly DesiredPoolServer[];
}

/** What the coordinator wants of one server of one pool on every LB node. */
export interface ServerIntent {
  readonly pool: string;
  readonly server: string;
  readonly admin: BackendAdmin;
  /** undefined: the configured weight. */
  readonly weight?: number;
}

export interface DesiredBackends {
  /** nginx: pools whose upstream servers lbha renders into managed includes. */
  readonly pools: readonly DesiredPool[];
  readonly intents: readonly ServerIntent[];
  readonly reportIntervalMs: number;
  /** Directives whose lines may differ between LB nodes. */
  readonly driftIgnore: readonly string[];
  /** Other files that must be the same on every LB node. */
  readonly driftFiles: readonly string[];
}

/** "pool/server": one server of one pool. */
export function serverKey(pool: string, server: string): string {
  return `${pool}/${server}`;
}

const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9._:[\]-]{0,126}$/;

/**
 * Pool and server names as haproxy and nginx spell them (haproxy allows upper case and ':';
 * nginx servers without a name are their address): letters, digits, '.', '_', ':', '-', '[' and
 * ']', at most 127, starting with a letter or digit. Nothing that could leave a config line.
 */
export function serverNameProblem(value: string): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return 'must not be empty';
  if (!SERVER_NAME.test(value)) return `${JSON.stringify(value)} is not a valid pool or server name (letters, digits, '.', '_', ':', '-', '[', ']', at most 127)`;
  return undefined;
}

function canonicalIPv6(address: string): string {
  try {
    return new URL(`http://[${address}]/`).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return address.toLowerCase();
  }
}

/**
 * One spelling per server address, "host:port" with IPv6 hosts canonical and unbracketed, so
 * that "[2001:0db8::0001]:80" and "[2001:db8::1]:80" (and the kernel's socket table) compare equal.
 */
export function serverAddressKey(address: string): string {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(i + 1));
  return `${host.includes(':') ? canonicalIPv6(host) : host}:${port}`;
}
