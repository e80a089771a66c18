// simulate: what placement would do if a node failed or were drained, a link went down or a spec
// were applied; the coordinator runs its real placement on its current state and changes nothing.
import type { CliCommand } from '../command.js';
import { call } from '../control-client.js';
import { UsageError } from '../errors.js';
import { table } from '../table.js';
import { printable } from '../terminal-text.js';
import { readSpec } from './spec.js';

function list(v: unknown): string[] {
  return Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : [];
}

export const simulateCommand: CliCommand = {
  name: 'simulate',
  summary: 'show where placement would put each VIP if a node failed or were drained, a link went down, or a spec were applied, and the backup keepalived would elect first where that differs; changes nothing',
  usage: 'lbha simulate [--fail NODE]... [--drain NODE]... [--link NODE:IF down]... [--spec FILE] [--json]',
  options: {
    fail: { type: 'string', arg: 'NODE', multiple: true, help: 'the node fails (unhealthy)' },
    drain: { type: 'string', arg: 'NODE', multiple: true, help: 'the node is drained' },
    link: { type: 'string', arg: 'NODE:IF', multiple: true, help: 'the interface goes down (follow it with the word down)' },
    spec: { type: 'string', arg: 'FILE', help: 'place with this spec instead of the running one' },
  },
  async run(ctx) {
    const linkDown = list(ctx.values['link']);
    const extra = [...ctx.positionals];
    // `--link lb1:eth2 down`: one `down` per link, as the words read.
    const downs = extra.filter((p) => p === 'down').length;
    const other = extra.find((p) => p !== 'down');
    if (other !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(other)}`);
    if (downs !== linkDown.length) throw new UsageError(linkDown.length === 0 ? 'unexpected argument "down" (it follows --link NODE:IF)' : 'write --link NODE:IF down (only down can be simulated)');
    const file = ctx.values['spec'] as string | undefined;
    const req = { fail: list(ctx.values['fail']), drain: list(ctx.values['drain']), linkDown, specYaml: file === undefined ? '' : readSpec(file) };
    if (req.fail.length + req.drain.length + linkDown.length === 0 && file === undefined) throw new UsageError('say what to simulate: --fail NODE, --drain NODE, --link NODE:IF down or --spec FILE');
    const client = ctx.client();
    const res = await call(client, ctx.config, client.simulate, req);
    if (ctx.config.json) {
      ctx.out(JSON.stringify(res, null, 2) + '\n');
      return 0;
    }
    for (const n of res.notes) ctx.out(`${printable(n)}\n`);
    const rows = res.vips.map((v) => [v.cluster, v.vip, v.before || '-', v.after || '-', v.before === v.after ? '' : 'MOVES', v.after === v.before ? v.afterReason : `${v.afterReason} (was: ${v.beforeReason || 'not in the spec'})`]);
    ctx.out(table(['CLUSTER', 'VIP', 'BEFORE', 'AFTER', '', 'WHY'], rows));
    return 0;
  },
};
