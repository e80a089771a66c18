// The backend pool's parsers against what the real programs print: haproxy 2.6's runtime API
// (captured by test/fixtures/haproxy-2.6/capture.sh from a real haproxy), the kernel's socket
// table (read while this test holds real loopback connections), and `nginx -T` (run on a
// configuration written here).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { canonicalHaproxy, digestFiles, nodeNeutral } from '../src/backends/config-digest.js';
import { adminOf, forcedAdminOf, haproxyCommandsFor, haproxyServers, healthOf, parseServersState, parseStatServers, runtimeError } from '../src/backends/haproxy-runtime.js';
import { canonicalNginx, expandIncludes, httpUpstreams, parseNginxDump, parseNginxText } from '../src/backends/nginx-config.js';
import { serverAddressKey as addressKey } from '@lbha/shared';
import { countOpenByRemote, openConnections, tcpInUse } from '../src/backends/socket-table.js';

const FIXTURES = new URL('../../test/fixtures/haproxy-2.6/', import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, FIXTURES), 'utf8');

describe('haproxy 2.6 runtime API (captured output)', () => {
  const states = parseServersState(fixture('show-servers-state.txt'));
  const stats = parseStatServers(fixture('show-stat.csv'));

  it('was captured from haproxy 2.6', () => {
    assert.match(fixture('haproxy-version.txt'), /^HAProxy version 2\.6\./);
  });

  it('reads every server of show servers state with its address, states and weights', () => {
    assert.deepEqual(
      states.map((s) => [s.pool, s.server, s.address, s.opState, s.adminBits, s.userWeight, s.initialWeight]),
      [
        ['webserver', 'web1', '127.0.0.1:18181', 2, 0, 1, 1],
        ['webserver', 'web2', '127.0.0.1:18182', 0, 0, 1, 1],
        ['webserver', 'web3', '127.0.0.1:18181', 2, 8, 5, 10],
        ['webserver', 'web4', '127.0.0.1:18181', 0, 1, 1, 1],
        ['api', 'api1', '127.0.0.1:18183', 2, 0, 1, 1],
      ],
    );
  });

  it('tells ready, drained and maintenance apart, and checked servers up from down', () => {
    const by = (name: string) => states.find((s) => s.server === name) as (typeof states)[number];
    assert.deepEqual(['web1', 'web2', 'web3', 'web4', 'api1'].map((n) => adminOf(by(n))), ['ready', 'ready', 'drain', 'maint', 'ready']);
    assert.deepEqual(['web1', 'web2', 'web3', 'web4', 'api1'].map((n) => healthOf(by(n))), ['up', 'down', 'up', 'unknown', 'unknown']);
    assert.equal(forcedAdminOf(by('web3')), 'drain');
  });

  it('reads sessions and check status from show stat (the session web1 held during the capture)', () => {
    assert.deepEqual(stats.get('webserver/web1'), { sessions: 1, check: 'L4OK' });
    assert.deepEqual(stats.get('webserver/web2'), { sessions: 0, check: 'L4CON' });
    assert.equal(stats.has('webserver/BACKEND'), false);
    assert.equal(stats.has('www/FRONTEND'), false);
  });

  it('reports the servers as lbha sees them', () => {
    const servers = haproxyServers(states, stats);
    assert.deepEqual(servers.find((s) => s.server === 'web3'), {
      pool: 'webserver',
      server: 'web3',
      address: '127.0.0.1:18181',
      admin: 'drain',
      health: 'up',
      weight: 5,
      sessions: 0,
      check: 'L4OK',
      managed: true,
    });
    assert.equal(servers.length, 5);
  });

  it('says which runtime commands bring a server to what is wanted, and none when it is there', () => {
    const by = (name: string) => states.find((s) => s.server === name) as (typeof states)[number];
    assert.deepEqual(haproxyCommandsFor(by('web1'), 'drain', undefined), ['set server webserver/web1 state drain']);
    assert.deepEqual(haproxyCommandsFor(by('web3'), 'drain', 5), []);
    // Undrain puts the configured weight back.
    assert.deepEqual(haproxyCommandsFor(by('web3'), 'ready', undefined), ['set server webserver/web3 state ready', 'set weight webserver/web3 10']);
    assert.deepEqual(haproxyCommandsFor(by('web4'), 'ready', 3), ['set server webserver/web4 state ready', 'set weight webserver/web4 3']);
  });

  it('treats an empty reply as success and anything else as haproxy\'s error', () => {
    assert.equal(runtimeError('\n'), undefined);
    assert.equal(runtimeError('No such server.\n'), 'No such server.');
    assert.equal(runtimeError(undefined), 'no answer from the stats socket');
  });

  it('returns nothing for a reply that is not show servers state', () => {
    assert.deepEqual(parseServersState('Unknown command.\n'), []);
    assert.equal(parseStatServers('garbage').size, 0);
  });
});

describe('the kernel socket table', () => {
  let server: Server;
  const clients: Socket[] = [];
  let port = 0;

  before(async () => {
    server = createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
    for (let i = 0; i < 3; i++) {
      const c = connect(port, '127.0.0.1');
      await new Promise<void>((resolve) => c.once('connect', () => resolve()));
      clients.push(c);
    }
  });
  after(() => {
    for (const c of clients) c.destroy();
    server.close();
  });

  it('counts the connections open to an address, as /proc/net/tcp shows them', async () => {
    const counts = await openConnections();
    assert.equal(counts.get(`127.0.0.1:${port}`), 3);
  });

  it('decodes IPv4, IPv6 and IPv4-mapped addresses and counts only open states', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 1332A8C0:D2F0 1632A8C0:0050 01 00000000:00000000 00:00000000 00000000     0        0 1 1',
      '   1: 1332A8C0:D2F2 1632A8C0:0050 06 00000000:00000000 00:00000000 00000000     0        0 2 1',
      '   2: 1332A8C0:D2F4 1632A8C0:0050 08 00000000:00000000 00:00000000 00000000     0        0 3 1',
      '   3: 1332A8C0:D2F6 1632A8C0:0050 0A 00000000:00000000 00:00000000 00000000     0        0 4 1',
      '10000: 1332A8C0:D2F8 1632A8C0:0050 01 00000000:00000000 00:00000000 00000000     0        0 5 1',
      '   5: 1332A8C0:D2FA 1632A8C0:0050 018 00000000:00000000',
      '   6: 1332A8C0:D2FC 1632A8C0:0050',
      '',
    ].join('\n');
    const counts = countOpenByRemote(text);
    // 192.168.50.22:80 established (also on a slot number wider than its column) and
    // close-wait; the TIME_WAIT (06) and listening (0A) ones are not sessions, nor what is not a state.
    assert.equal(counts.get('192.168.50.22:80'), 3);
    const v6 = [
      'header',
      '   0: 00000000000000000000000001000000:D2F0 B80D0120000000000000000001000000:1F90 01 0:0 00:0 0 0 0 1 1',
      '   1: 00000000000000000000000001000000:D2F0 0000000000000000FFFF00001632A8C0:0050 02 0:0 00:0 0 0 0 1 1',
    ].join('\n');
    const c6 = countOpenByRemote(v6);
    assert.equal(c6.get('2001:db8::1:8080'), 1);
    assert.equal(c6.get('192.168.50.22:80'), 1);
    assert.equal(addressKey('[2001:0db8::0001]:8080'), '2001:db8::1:8080');
  });
});

describe('the socket tables: a family without a TCP socket in use is not read', () => {
  const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
  const V4 = [HEADER, '   0: 1332A8C0:D2F0 1632A8C0:0050 01 00000000:00000000 00:00000000 00000000     0        0 1 1', ''].join('\n');
  const V6 = [HEADER, '   0: 00000000000000000000000001000000:D2F0 B80D0120000000000000000001000000:1F90 01 0:0 00:0 0 0 0 1 1', ''].join('\n');
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lbha-proc-net-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A /proc/net of its own: both tables hold a connection; sockstat says what `stat` gives. */
  function procNet(name: string, stat: { v4?: string; v6?: string }): string {
    const d = join(dir, name);
    mkdirSync(d);
    writeFileSync(join(d, 'tcp'), V4);
    writeFileSync(join(d, 'tcp6'), V6);
    if (stat.v4 !== undefined) writeFileSync(join(d, 'sockstat'), `sockets: used 36\n${stat.v4}\nUDP: inuse 0 mem 0\n`);
    if (stat.v6 !== undefined) writeFileSync(join(d, 'sockstat6'), `${stat.v6}\nUDP6: inuse 0\n`);
    return d;
  }

  it('skips the table of a family whose sockstat counts no TCP socket in use', async () => {
    const none6 = await openConnections(procNet('none6', { v4: 'TCP: inuse 3 orphan 0 tw 1810 alloc 6036 mem 2198', v6: 'TCP6: inuse 0' }));
    assert.deepEqual([...none6], [['192.168.50.22:80', 1]]);
    const none4 = await openConnections(procNet('none4', { v4: 'TCP: inuse 0 orphan 0 tw 1810 alloc 6036 mem 2198', v6: 'TCP6: inuse 2' }));
    assert.deepEqual([...none4], [['2001:db8::1:8080', 1]]);
  });

  it('reads both where the sockets are in use, or where sockstat cannot be read or parsed', async () => {
    const both = [['192.168.50.22:80', 1], ['2001:db8::1:8080', 1]];
    assert.deepEqual([...(await openConnections(procNet('used', { v4: 'TCP: inuse 1 orphan 0 tw 0 alloc 1 mem 1', v6: 'TCP6: inuse 1' })))], both);
    assert.deepEqual([...(await openConnections(procNet('absent', {})))], both);
    assert.deepEqual([...(await openConnections(procNet('garbled', { v4: 'TCP: in use three', v6: 'TCP6:' })))], both);
  });

  it('reads the namespace\'s own counts', async () => {
    const v4 = await tcpInUse('/proc/net', 'sockstat');
    assert.ok(typeof v4 === 'number' && v4 >= 0, `TCP inuse ${v4}`);
    assert.equal(typeof (await tcpInUse('/proc/net', 'sockstat6')), existsSync('/proc/net/sockstat6') ? 'number' : 'undefined');
  });
});

const hasNginx = spawnSync('nginx', ['-v']).status === 0;

describe('nginx -T', { skip: hasNginx ? false : 'nginx is not installed' }, () => {
  let dir: string;
  let dump = '';

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lbha-nginx-T-'));
    mkdirSync(join(dir, 'conf.d'));
    mkdirSync(join(dir, 'upstreams'));
    writeFileSync(
      join(dir, 'nginx.conf'),
      `# a comment
worker_processes 1;
error_log ${dir}/error.log;
pid ${dir}/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    upstream webserver {
        include upstreams/webserver.conf;
        keepalive 8;
    }
    upstream legacy {
        server 10.0.0.9 weight=3;
        server 10.0.0.10:8080 down;
        server unix:/run/app.sock;
    }
    include conf.d/*.conf;
}
`,
    );
    writeFileSync(join(dir, 'upstreams', 'webserver.conf'), 'server 192.168.50.22:80 max_fails=3;\nserver 192.168.50.23:80 down;  # web2: drain\n');
    writeFileSync(join(dir, 'conf.d', 'b.conf'), 'server { listen 127.0.0.1:18190; location / { return 200 "b;{}"; } }\n');
    writeFileSync(join(dir, 'conf.d', 'a.conf'), 'server { listen 127.0.0.1:18191; add_header x-node "lb1"; }\n');
    const r = spawnSync('nginx', ['-T', '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    dump = r.stdout;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('splits the dump into the files nginx read, in order', () => {
    const files = parseNginxDump(dump);
    assert.deepEqual(
      files.map((f) => f.path.slice(dir.length)),
      ['/nginx.conf', '/upstreams/webserver.conf', '/conf.d/a.conf', '/conf.d/b.conf'],
    );
  });

  it('reads the upstream servers of the running configuration through its includes', () => {
    const ups = httpUpstreams(expandIncludes(parseNginxDump(dump)));
    assert.deepEqual(ups, [
      {
        name: 'webserver',
        servers: [
          { address: '192.168.50.22:80', weight: 1, down: false, backup: false },
          { address: '192.168.50.23:80', weight: 1, down: true, backup: false },
        ],
      },
      {
        name: 'legacy',
        servers: [
          { address: '10.0.0.9:80', weight: 3, down: false, backup: false },
          { address: '10.0.0.10:8080', weight: 1, down: true, backup: false },
        ],
      },
    ]);
  });

  it('compares statements, not layout or comments; quoted words stay words', () => {
    const a = canonicalNginx(parseNginxText('location / {\n  return 200 "b;{}";   # why\n}\n'), new Set());
    const b = canonicalNginx(parseNginxText('location / { return 200 "b;{}"; }'), new Set());
    assert.deepEqual(a, ['location / {', 'return 200 b;{};', '}']);
    assert.deepEqual(a, b);
    assert.deepEqual(canonicalNginx(parseNginxText('pid /run/a.pid; worker_processes 2;'), new Set(['pid'])), ['worker_processes 2;']);
  });
});

describe('configuration digests', () => {
  it('are equal for the same statements on two nodes, whatever the comments and node names', () => {
    const lb1 = canonicalHaproxy('global\n  stats socket /run/lb1/haproxy.sock  # lb1\n  maxconn 4000\nfrontend www\n  http-response set-header x-node lb1\n', new Set());
    const lb2 = canonicalHaproxy('global\n\tstats socket /run/lb2/haproxy.sock\n  maxconn   4000\n\nfrontend www\n  http-response set-header x-node lb2\n', new Set());
    assert.equal(digestFiles([{ path: '/etc/haproxy/haproxy.cfg', lines: lb1 }], 'lb1').digest, digestFiles([{ path: '/etc/haproxy/haproxy.cfg', lines: lb2 }], 'lb2').digest);
  });

  it('differ when a statement differs, unless the spec lets that directive differ', () => {
    const a = canonicalHaproxy('global\n  maxconn 4000\n', new Set());
    const b = canonicalHaproxy('global\n  maxconn 3000\n', new Set());
    assert.notEqual(digestFiles([{ path: '/x', lines: a }], 'lb1').digest, digestFiles([{ path: '/x', lines: b }], 'lb2').digest);
    const ia = canonicalHaproxy('global\n  maxconn 4000\n', new Set(['maxconn']));
    const ib = canonicalHaproxy('global\n  maxconn 3000\n', new Set(['maxconn']));
    assert.deepEqual(ia, ib);
  });

  it('read a node name as a word only', () => {
    assert.equal(nodeNeutral('/srv/lb1/x lb1.example lb10 lb1-b', 'lb1'), '/srv/{node}/x {node}.example lb10 lb1-b');
  });

  it('reads haproxy quotes and escapes as haproxy does', () => {
    assert.deepEqual(canonicalHaproxy('  errorfile 503 "/etc/haproxy/errors/5 03.http" # x\n  log-format "%ci\\"#"\n', new Set()), ['errorfile 503 /etc/haproxy/errors/5 03.http', 'log-format %ci"#']);
  });
});
