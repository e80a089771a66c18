// nginx's side of the backend pool. Open-source nginx has no API: its upstream servers come from
// its effective configuration (`nginx -T`, run again only when a file of it changed), their
// sessions from the kernel's socket table, and a change is a managed include per pool, written,
// validated with the whole configuration (nginx -t) and applied by a graceful reload. A refused
// include is taken back, so the files on disk stay ones nginx accepts.
import { mkdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { serverAddressKey as addressKey, serverKey, serverNameProblem, type BackendAdmin, type BackendServer } from '@lbha/shared';
import type { ServiceOutcome } from '../services/service-driver.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { describeOutcome, type CommandRunner } from '../util/run-command.js';
import { digestFiles } from './config-digest.js';
import { canonicalNginx, expandIncludes, httpUpstreams, parseNginxDump, type NginxFile, type NginxUpstream } from './nginx-config.js';
import { includeFileName, renderUpstreamInclude } from './nginx-include.js';
import { childPids, reloadInForce } from './nginx-reload.js';
import type { ApplyOutcome, BackendObservation, BackendSettings, ConfigDigest, ProxyBackends } from './proxy-backends.js';
import { openConnections } from './socket-table.js';
import { statKeyOf } from './stat-cache.js';

export interface NginxBackendsOptions {
  readonly node: string;
  readonly binary: string;
  /** `nginx -T` with the service's -p/-e/-c. */
  readonly dumpArgs: readonly string[];
  /** Where the managed includes live. */
  readonly upstreamsDir: string;
  /** /proc/net, replaceable in tests. */
  readonly procNet: string;
  readonly run: CommandRunner;
  /** Validates the whole configuration, then reloads gracefully; refuses a config nginx rejects. */
  readonly reload: () => Promise<ServiceOutcome>;
  readonly running: () => boolean;
  /** The nginx master's pid (0 when not running): its workers show when a reload is in force. */
  readonly masterPid: () => number;
  /** Asks the supervisor to start nginx now if it is down (its includes may have been missing). */
  readonly startNow: () => void;
  readonly now: () => number;
}

/** nginx -T is run again at least this often, whatever the files say (a missed change). */
const DUMP_MAX_AGE_MS = 60_000;
/** How long a reload may take to be in force before the apply says it was not seen. */
const RELOAD_WAIT_MS = 5_000;

interface Dump {
  readonly key: string;
  readonly atMs: number;
  readonly files: readonly NginxFile[];
  readonly upstreams: readonly NginxUpstream[];
  readonly ignoreKey: string;
  readonly digest: ConfigDigest;
}

export class NginxBackends implements ProxyBackends {
  private dump: Dump | undefined;

  constructor(private readonly o: NginxBackendsOptions) {}

  async observe(s: BackendSettings): Promise<BackendObservation> {
    const dump = await this.read(s);
    if (typeof dump === 'string') return { servers: [], config: undefined, error: dump, readmitMs: 0 };
    const conns = await openConnections(this.o.procNet);
    const managed = new Map(s.backends.pools.map((p) => [p.name, p]));
    const servers: BackendServer[] = [];
    for (const up of dump.upstreams) {
      const pool = managed.get(up.name);
      for (const srv of up.servers) {
        const named = pool?.servers.find((x) => addressKey(x.address) === addressKey(srv.address));
        const name = named?.name ?? srv.address;
        if (serverNameProblem(up.name) || serverNameProblem(name)) continue;
        const intent = s.intents.get(serverKey(up.name, name));
        // nginx knows one way to stop sending to a server: `down`, for a drain and a disable alike.
        const admin: BackendAdmin = !srv.down ? 'ready' : intent && intent.admin !== 'ready' ? intent.admin : 'maint';
        servers.push({ pool: up.name, server: name, address: srv.address, admin, health: 'unknown', weight: srv.weight, sessions: conns.get(addressKey(srv.address)) ?? 0, check: '', managed: named !== undefined });
      }
    }
    // Its readmission follows the server lines lbha renders from the spec: the coordinator knows it.
    return { servers, config: dump.digest, error: '', readmitMs: 0 };
  }

  async apply(s: BackendSettings): Promise<ApplyOutcome> {
    await mkdir(this.o.upstreamsDir, { recursive: true });
    const changed: Array<{ path: string; before: string | undefined; text: string }> = [];
    for (const pool of s.backends.pools) {
      const path = join(this.o.upstreamsDir, includeFileName(pool.name));
      const text = renderUpstreamInclude(pool, s.intents);
      const before = await readFile(path, 'utf8').catch(() => undefined);
      if (before !== text) changed.push({ path, before, text });
    }
    if (changed.length === 0) return { ok: true, message: 'nothing to change' };
    for (const c of changed) await writeFileAtomic(c.path, c.text);
    this.dump = undefined;
    const what = changed.map((c) => c.path).join(', ');
    if (!this.o.running()) {
      this.o.startNow();
      return { ok: true, message: `wrote ${what}; nginx is not running and starts with them` };
    }
    const master = this.o.masterPid();
    const before = new Set(childPids(master));
    const r = await this.o.reload();
    // Reported applied only once no old worker takes new connections.
    if (r.ok) return { ok: true, message: `wrote ${what}; nginx reloaded (${await reloadInForce(master, before, this.o.procNet, RELOAD_WAIT_MS)})` };
    // Take them back: the files on disk stay ones nginx accepts (a restart must not trip on them).
    for (const c of changed) await (c.before === undefined ? unlink(c.path).catch(() => undefined) : writeFileAtomic(c.path, c.before));
    return { ok: false, error: `nginx refused the managed includes (${what}): ${r.message}` };
  }

  /** The parsed dump, from cache while no file of it changed; a string says why it could not be read. */
  private async read(s: BackendSettings): Promise<Dump | string> {
    const ignore = new Set(s.backends.driftIgnore);
    const ignoreKey = [...ignore].sort().join('\n');
    const cached = this.dump;
    const now = this.o.now();
    if (cached && cached.ignoreKey === ignoreKey && now - cached.atMs < DUMP_MAX_AGE_MS && (await statKeyOf(cached.files.map((f) => f.path))) === cached.key) return cached;
    const r = await this.o.run(this.o.binary, this.o.dumpArgs, { timeoutMs: 15_000 });
    if (r.exitCode !== 0) return `nginx -T failed: ${describeOutcome(r)}`;
    const files = parseNginxDump(r.stdout);
    if (files.length === 0) return 'nginx -T printed no configuration';
    const key = await statKeyOf(files.map((f) => f.path));
    const own = `${this.o.upstreamsDir}/`;
    // The managed includes are lbha's and compared as backend states, not as configuration.
    const compared = files.filter((f) => !f.path.startsWith(own)).map((f) => ({ path: f.path, lines: canonicalNginx(f.statements, ignore) }));
    const dump: Dump = { key, atMs: now, files, upstreams: httpUpstreams(expandIncludes(files)), ignoreKey, digest: digestFiles(compared, this.o.node) };
    this.dump = dump;
    return dump;
  }
}
