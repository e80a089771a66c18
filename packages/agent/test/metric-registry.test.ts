import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AgentMetrics } from '../src/agent-metrics.js';
import { MetricRegistry } from '../src/util/metric-registry.js';
import { maxOpenFiles, privateBytes } from '../src/util/process-metrics.js';

/** The samples of a text exposition: `name{labels}` -> value. */
function samples(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    m.set(line.slice(0, at), line.slice(at + 1));
  }
  return m;
}

describe('metric registry', () => {
  it('renders counters, gauges and label values in the text format, escaped', async () => {
    const r = new MetricRegistry();
    const c = r.counter('x_total', 'Things\ncounted \\ here', ['kind', 'name']);
    const g = r.gauge('y', 'A level');
    c.inc({ kind: 'a', name: 'say "hi"\\\n' });
    c.inc({ kind: 'a', name: 'say "hi"\\\n' }, 2);
    c.inc({ name: 'n', kind: 'b' });
    const text = await r.render();
    assert.equal(
      text,
      [
        '# HELP x_total Things\\ncounted \\\\ here',
        '# TYPE x_total counter',
        'x_total{kind="a",name="say \\"hi\\"\\\\\\n"} 3',
        'x_total{kind="b",name="n"} 1',
        '# HELP y A level',
        '# TYPE y gauge',
        'y 0',
        '',
      ].join('\n'),
    );
    g.set({}, -1.5);
    c.remove({ kind: 'a', name: 'say "hi"\\\n' });
    const after = samples(await r.render());
    assert.equal(after.get('y'), '-1.5');
    assert.deepEqual([...after.keys()], ['x_total{kind="b",name="n"}', 'y']);
  });

  it('counts histogram observations into cumulative buckets, with +Inf, sum and count', async () => {
    const r = new MetricRegistry();
    const h = r.histogram('d_seconds', 'Durations', ['check'], [0.01, 0.1, 1]);
    for (const v of [0.005, 0.01, 0.05, 0.5, 2]) h.observe({ check: 'web' }, v);
    const s = samples(await r.render());
    assert.equal(s.get('d_seconds_bucket{check="web",le="0.01"}'), '2');
    assert.equal(s.get('d_seconds_bucket{check="web",le="0.1"}'), '3');
    assert.equal(s.get('d_seconds_bucket{check="web",le="1"}'), '4');
    assert.equal(s.get('d_seconds_bucket{check="web",le="+Inf"}'), '5');
    assert.equal(Number(s.get('d_seconds_sum{check="web"}')), 0.005 + 0.01 + 0.05 + 0.5 + 2);
    assert.equal(s.get('d_seconds_count{check="web"}'), '5');
  });

  it('refuses what the format cannot carry, and a counter going down', () => {
    const r = new MetricRegistry();
    assert.throws(() => r.gauge('bad-name', 'x'), /invalid metric name "bad-name"/);
    assert.throws(() => r.gauge('ok', 'x', ['bad label']), /ok: invalid label name "bad label"/);
    assert.throws(() => r.histogram('h', 'x', ['le'], [1]), /invalid label name "le"/);
    assert.throws(() => r.histogram('h2', 'x', [], [1, 1]), /buckets must increase/);
    r.gauge('twice', 'x');
    assert.throws(() => r.gauge('twice', 'x'), /registered twice/);
    const c = r.counter('c_total', 'x', ['a']);
    assert.throws(() => c.inc({ a: '1' }, -1), /does not go down/);
    assert.throws(() => c.inc({}), /label a missing/);
  });
});

describe('process metrics', () => {
  it('reads private memory from smaps_rollup and the soft open-files limit', () => {
    const rollup = 'Rss:   40000 kB\nPss:   9000 kB\nPrivate_Clean:   1200 kB\nPrivate_Dirty:   10800 kB\nSwap: 0 kB\n';
    assert.equal(privateBytes(rollup), 12000 * 1024);
    assert.equal(privateBytes('Rss: 1 kB\n'), undefined);
    const limits = 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n';
    assert.equal(maxOpenFiles(limits), 1024);
    assert.equal(maxOpenFiles('Max open files            unlimited            unlimited            files\n'), undefined);
  });

  it('serves the agent process figures under the agent prefix, read at scrape time', async () => {
    const m = new AgentMetrics();
    const s = samples(await m.registry.render());
    const cpu = Number(s.get('lbha_agent_process_cpu_seconds_total'));
    assert.ok(cpu > 0, `cpu ${cpu}`);
    assert.ok(Number(s.get('lbha_agent_process_resident_memory_bytes')) > 1e6);
    assert.ok(Number(s.get('lbha_agent_process_private_memory_bytes')) > 1e6);
    assert.ok(Number(s.get('lbha_agent_process_open_fds')) > 2);
    assert.ok(Math.abs(Number(s.get('lbha_agent_process_start_time_seconds')) - (Date.now() / 1000 - process.uptime())) < 2);
    assert.ok(Number(s.get('lbha_agent_nodejs_eventloop_lag_seconds')) >= 0);
    assert.equal(s.get(`lbha_agent_nodejs_version_info{version="${process.version}",major="${process.versions.node.split('.')[0]}",minor="${process.versions.node.split('.')[1]}",patch="${process.versions.node.split('.')[2]}"}`), '1');
    // The agent's own families are there, without labels at 0.
    assert.equal(s.get('lbha_agent_keepalived_reloads_total'), '0');
    const again = samples(await m.registry.render());
    assert.ok(Number(again.get('lbha_agent_process_cpu_seconds_total')) >= cpu);
  });
});
