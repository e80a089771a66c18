// How long haproxy may take to send to its servers again once they answer: the check intervals
// from the configuration (defaults, default-server, server lines, units) and, from `show stat` as
// a real haproxy 2.6 printed it (test/fixtures/haproxy-2.6/), which servers it checks and their rise.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { canonicalHaproxy } from '../src/backends/config-digest.js';
import { HAPROXY_DEFAULT_INTER_MS, haproxyCheckIntervals, haproxyReadmissions, haproxyReadmitMs, haproxyTimeMs } from '../src/backends/haproxy-readmission.js';

const FIXTURES = new URL('../../test/fixtures/haproxy-2.6/', import.meta.url);
const showStat = readFileSync(new URL('show-stat.csv', FIXTURES), 'utf8');
const intervalsOf = (text: string) => haproxyCheckIntervals(canonicalHaproxy(text, new Set()));

/** The backends of the configuration capture.sh ran when it captured show-stat.csv. */
const CAPTURED = `
defaults
    mode http
backend webserver
    balance roundrobin
    server web1 127.0.0.1:18181 check inter 500ms
    server web2 127.0.0.1:18182 check inter 500ms
    server web3 127.0.0.1:18181 check inter 500ms weight 10
    server web4 127.0.0.1:18181 check inter 500ms
backend api
    server api1 127.0.0.1:18183
`;

/** show-stat.csv with one server's rise changed, as `rise N` on its line would show it. */
function withRise(server: string, rise: number): string {
  const lines = showStat.split('\n');
  const columns = (lines[0] as string).replace(/^#\s*/, '').split(',');
  const at = columns.indexOf('check_rise');
  return lines.map((l) => (l.startsWith(`webserver,${server},`) ? l.split(',').map((f, i) => (i === at ? String(rise) : f)).join(',') : l)).join('\n');
}

describe("haproxy's readmission of its servers", () => {
  it('reads haproxy times in each unit, milliseconds without one', () => {
    assert.deepEqual(['500', '500ms', '2s', '1m', '1h', '1d', '1500us'].map(haproxyTimeMs), [500, 500, 2_000, 60_000, 3_600_000, 86_400_000, 2]);
    assert.deepEqual(['', '2 s', 's', '-1s', '1.5s', 'fast'].map(haproxyTimeMs), [undefined, undefined, undefined, undefined, undefined, undefined]);
  });

  it('the capture: the checked servers (up, down, drained) each downinter + (rise - 1) x fastinter, none in maintenance or without checks', () => {
    const r = haproxyReadmissions(showStat, intervalsOf(CAPTURED));
    // web4 is in maintenance (not checked; it comes back UP at once when it leaves it), api1 has no check.
    assert.deepEqual(r.map((x) => [x.key, x.rise, x.downInterMs, x.fastInterMs, x.ms]), [
      ['webserver/web1', 2, 500, 500, 1_000],
      ['webserver/web2', 2, 500, 500, 1_000],
      ['webserver/web3', 2, 500, 500, 1_000],
    ]);
    assert.equal(haproxyReadmitMs(showStat, intervalsOf(CAPTURED)), 1_000);
    // The rise is the one haproxy runs: 3 good checks, two of them at fastinter.
    assert.equal(haproxyReadmitMs(withRise('web2', 3), intervalsOf(CAPTURED)), 1_500);
  });

  it('takes a server the configuration does not name (added at runtime) at haproxy\'s default inter, 2 s', () => {
    assert.equal(haproxyReadmitMs(showStat, new Map()), HAPROXY_DEFAULT_INTER_MS * 2);
  });

  it('nothing to wait for when haproxy checks no server, or does not answer with show stat', () => {
    assert.equal(haproxyReadmitMs(showStat.split('\n').filter((l) => !l.startsWith('webserver,')).join('\n'), intervalsOf(CAPTURED)), 0);
    assert.equal(haproxyReadmitMs('', intervalsOf(CAPTURED)), 0);
    assert.equal(haproxyReadmitMs('Unknown command.\n', intervalsOf(CAPTURED)), 0);
  });

  it('a server line over its backend\'s default-server lines over its defaults section\'s', () => {
    const i = intervalsOf(`
global
    stats socket /run/haproxy.sock
defaults
    default-server inter 3s fastinter 500ms
defaults short
    default-server inter 1s downinter 200ms
frontend www
    bind :80
backend a
    server a1 10.0.0.1:80 check
    server a2 10.0.0.2:80 check fastinter 100 # comments go
backend b from short
    server b1 10.0.0.3:80 check
    default-server rise 3 downinter 1s
    server b2 10.0.0.4:80 check inter 2s
listen c
    server-template srv 1-3 web.example:80 check inter 400ms
`);
    assert.deepEqual(Object.fromEntries(i), {
      // The last defaults section before it: "short" (a named one is still the last).
      'a/a1': { interMs: 1_000, fastInterMs: undefined, downInterMs: 200 },
      'a/a2': { interMs: 1_000, fastInterMs: 100, downInterMs: 200 },
      'b/b1': { interMs: 1_000, fastInterMs: undefined, downInterMs: 200 },
      'b/b2': { interMs: 2_000, fastInterMs: undefined, downInterMs: 1_000 },
      'c/srv*': { interMs: 400, fastInterMs: undefined, downInterMs: 200 },
    });
    const j = intervalsOf(`
defaults base
    default-server inter 3s fastinter 500ms
defaults other
    default-server inter 10s
backend a from base
    server a1 10.0.0.1:80 check
backend b
    server b1 10.0.0.2:80 check
`);
    assert.deepEqual(j.get('a/a1'), { interMs: 3_000, fastInterMs: 500, downInterMs: undefined }, 'from: the named defaults');
    assert.deepEqual(j.get('b/b1'), { interMs: 10_000, fastInterMs: undefined, downInterMs: undefined }, 'else the last defaults before it');
  });

  it("a server-template's servers take its intervals", () => {
    const stat = [
      '# pxname,svname,status,check_rise',
      'c,srv1,UP,2',
      'c,srv2,DOWN,2',
      'c,srvx,UP,2',
      'c,BACKEND,UP,',
    ].join('\n');
    const r = haproxyReadmissions(stat, intervalsOf('backend c\n    server-template srv 1-2 web.example:80 check inter 400ms downinter 1s\n'));
    assert.deepEqual(r.map((x) => [x.key, x.ms]), [['c/srv1', 1_400], ['c/srv2', 1_400], ['c/srvx', 4_000]]);
  });
});
