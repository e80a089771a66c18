// A what-if request checked and run: the named nodes and interfaces must exist (in the spec the
// question is asked of), then placement runs on the current state, changed as asked. Nothing
// is changed (simulation.ts).
import { nameProblem } from '@lbha/shared';
import { InvalidArgumentError } from './errors.js';
import { simulate, type SimulationInput, type SimulationResult } from './simulation.js';
import type { Spec } from './spec/cluster-spec.js';

export interface SimulateRequest {
  readonly fail: readonly string[];
  readonly drain: readonly string[];
  /** "NODE:IFACE" each. */
  readonly linkDown: readonly string[];
  /** A spec to place with instead of the running one; '' for none. */
  readonly specYaml: string;
}

export interface SimulationSource {
  simulationInput(): SimulationInput;
  parseSpec(yaml: string, caller: string): Promise<Spec>;
}

/** At most this many changes in one question: enough for any real what-if, bounded work. */
const MAX_CHANGES = 64;

export async function runSimulation(plane: SimulationSource, req: SimulateRequest, caller: string): Promise<SimulationResult> {
  const count = req.fail.length + req.drain.length + req.linkDown.length;
  if (count === 0 && req.specYaml === '') throw new InvalidArgumentError('request', 'say what to simulate: a node to fail or drain, a link down, or a spec');
  if (count > MAX_CHANGES) throw new InvalidArgumentError('request', `at most ${MAX_CHANGES} changes at once, got ${count}`);
  const input = plane.simulationInput();
  const spec = req.specYaml === '' ? undefined : await plane.parseSpec(req.specYaml, caller);
  const within = spec ?? input.spec;
  const nodeOf = (field: string, name: string) => {
    const p = nameProblem(name);
    if (p) throw new InvalidArgumentError(field, p);
    const n = within.clusters.flatMap((c) => c.nodes).find((x) => x.name === name);
    if (!n) throw new InvalidArgumentError(field, `node ${name} is not in the ${spec ? 'given' : 'running'} spec`);
    return n;
  };
  for (const n of req.fail) nodeOf('fail', n);
  for (const n of req.drain) nodeOf('drain', n);
  const linksDown = req.linkDown.map((l) => {
    const m = /^([^:]+):([^:]+)$/.exec(l);
    if (!m) throw new InvalidArgumentError('linkDown', `${JSON.stringify(l)} is not NODE:INTERFACE`);
    const node = nodeOf('linkDown', m[1] as string);
    const iface = m[2] as string;
    if (!node.interfaces.some((i) => i.name === iface)) throw new InvalidArgumentError('linkDown', `node ${node.name} has no interface ${iface} (it has ${node.interfaces.map((i) => i.name).join(', ')})`);
    return { node: node.name, iface };
  });
  return simulate(input, { fail: req.fail, drain: req.drain, linksDown, ...(spec ? { spec } : {}) });
}
