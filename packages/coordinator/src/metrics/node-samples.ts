// The sample lines one node's report contributes to /metrics (mode, health, services, checks,
// VRRP states and priorities, foreign routers), built once per report and reused by every scrape until it changes.
import { escapeLabelValue, formatValue, type CheckStatus, type ForeignRouter, type InstanceStatus, type NodeMode, type NodeSnapshot, type ServiceStatus } from '@lbha/shared';
import { msToSeconds } from './exposition-writer.js';
import { MAX_FOREIGN_PER_VIP } from '../vip-observation.js';
import { METRICS, type MetricId } from './metric-definitions.js';

/** Bounds on what one agent report can add to /metrics, so a broken agent cannot flood it. */
export const MAX_PER_NODE = { services: 16, checks: 64, instances: 256 } as const;

/** Families filled from each node's report, in exposition order. */
export const NODE_FAMILIES = [
  'nodeMode',
  'nodeHealthy',
  'serviceUp',
  'serviceRestarts',
  'proxyActiveConnections',
  'checkStatus',
  'checkDuration',
  'vrrpState',
  'vrrpPriority',
  'vrrpForeignRouter',
] as const satisfies readonly MetricId[];
export type NodeFamily = (typeof NODE_FAMILIES)[number];
const NODE_FAMILY_INDEX = Object.fromEntries(NODE_FAMILIES.map((id, i) => [id, i])) as Record<NodeFamily, number>;

export interface NodeView {
  snapshot: NodeSnapshot | undefined;
  mode: NodeMode;
  readonly cluster: string;
  /** `cluster="…",node="…"` */
  readonly labels: string;
  /**
   * Sample lines of every family as UTF-8 bytes: family i is text[offsets[i], offsets[i+1]); the
   * buffer may be longer than what is used (room for values that grow by a digit). Kept as bytes
   * because at 10,000 nodes the lines are ~20 MB: as JS strings, every rebuild under churn is
   * copied by the young-generation GC (pauses of 20-60 ms seen); a Buffer's bytes live outside
   * the JS heap and are never copied.
   */
  text: Buffer;
  readonly offsets: Uint32Array;
  /** Each reported VIP: its name, and whether this node holds it. */
  instances: ReadonlyArray<readonly [string, boolean]>;
  generation: number;
}

/** The bytes of family `f` (an index into NODE_FAMILIES) of every view, concatenated. */
export function familyBytes(views: readonly NodeView[], f: number, from: number, to: number): Buffer {
  let size = 0;
  for (let i = from; i < to; i++) {
    const o = (views[i] as NodeView).offsets;
    size += (o[f + 1] as number) - (o[f] as number);
  }
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  for (let i = from; i < to; i++) {
    const v = views[i] as NodeView;
    pos = copyBytes(v.text, v.offsets[f] as number, v.offsets[f + 1] as number, out, pos);
  }
  return out;
}

/**
 * Copies src[from, to) into dst at `at` and returns where it ended, byte by byte. Buffer's
 * `copy` of part of a buffer makes a new Uint8Array view of the part on every call (node 20):
 * ten families of 2,000 nodes were 20,000 views, 1.9 MB of garbage a scrape; this loop
 * allocates nothing and, for lines of a few hundred bytes spread over thousands of buffers, took
 * about a quarter of the time of `copy` (3.3 against 12.2 ms for 20,000 copies of 220 bytes).
 */
export function copyBytes(src: Uint8Array, from: number, to: number, dst: Uint8Array, at: number): number {
  let j = from;
  let p = at;
  for (const last = to - 4; j <= last; j += 4, p += 4) {
    dst[p] = src[j] as number;
    dst[p + 1] = src[j + 1] as number;
    dst[p + 2] = src[j + 2] as number;
    dst[p + 3] = src[j + 3] as number;
  }
  while (j < to) dst[p++] = src[j++] as number;
  return p;
}

/**
 * One line per view, `name{labels} value`, for views [from, to), as bytes: written into the
 * scratch buffer from the parts (no string per line) and copied out (the writer keeps the
 * piece until it flushes).
 */
export function viewLines(views: readonly NodeView[], from: number, to: number, name: string, value: (index: number) => number, unit?: 'ms-as-seconds'): Buffer {
  pos = 0;
  const open = `${name}{`;
  for (let i = from; i < to; i++) {
    put(open);
    put((views[i] as NodeView).labels);
    if (unit === 'ms-as-seconds') endMs(value(i));
    else end(value(i));
  }
  return Buffer.from(scratch.subarray(0, pos));
}

/**
 * Sample lines written as bytes from their parts, for the families built at the scrape (the
 * VIPs'): `begin`, then per line `start` (name and first labels), `label` for each further
 * pair, `end` with the value; `take` copies the piece out. Shares the scratch buffer with the
 * node rebuilds: a piece is begun and taken with no pause between.
 */
export const pieceWriter = {
  begin(): void {
    pos = 0;
  },
  /** Text as it is (a family's HELP and TYPE). */
  text: put,
  /** `name{labels`: the labels as given (already escaped). */
  start(name: string, labels: string): void {
    put(name);
    put('{');
    put(labels);
  },
  /** `,name="value"` with the value escaped; `prefix` is `,name="`. */
  label,
  end,
  take(): Buffer {
    return Buffer.from(scratch.subarray(0, pos));
  },
};

const NAMES: readonly string[] = NODE_FAMILIES.map((id) => `${METRICS[id].name}{`);
const F = NODE_FAMILY_INDEX;

/**
 * Where a rebuild writes its lines before they are copied into the node's buffer: one buffer for
 * every rebuild, grown when a node needs more (a node's lines are bounded by MAX_PER_NODE).
 */
let scratch = Buffer.allocUnsafe(16 * 1024);
let pos = 0;
const scratchOffsets = new Uint32Array(NODE_FAMILIES.length + 1);

/** Makes room for `bytes` more bytes in the scratch buffer. */
function room(bytes: number): void {
  if (scratch.length - pos >= bytes) return;
  const bigger = Buffer.allocUnsafe(Math.max(2 * scratch.length, pos + bytes));
  scratch.copy(bigger, 0, 0, pos);
  scratch = bigger;
}

/** Appends `text` (UTF-8) to the scratch buffer: ASCII byte by byte, the rest by Buffer.write. */
function put(text: string): void {
  const len = text.length;
  // At most 3 bytes per UTF-16 unit.
  room(3 * len);
  const buf = scratch;
  let p = pos;
  for (let i = 0; i < len; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) {
      pos = p + buf.write(i === 0 ? text : text.slice(i), p);
      return;
    }
    buf[p++] = c;
  }
  pos = p;
}

/** `,name="value"` with the value escaped. */
function label(prefix: string, value: string): void {
  put(prefix);
  put(escapeLabelValue(value));
  put('"');
}

/** The end of a sample line: `} value` and the newline. */
function end(value: number): void {
  put('} ');
  if (Number.isSafeInteger(value)) putInteger(value);
  else put(formatValue(value));
  put('\n');
}

/**
 * The end of a line whose value is milliseconds shown as seconds (`msToSeconds`): `} value` and
 * the newline, the value written from the whole milliseconds as formatValue would spell it.
 */
function endMs(ms: number): void {
  const k = Math.round(ms);
  // Up to 15 digits the decimal k/1000 is what String() gives for the double k/1000 (every
  // decimal of 15 significant digits or fewer is the shortest one that reads back as its double).
  if (!(Math.abs(k) < 1e15)) {
    end(msToSeconds(ms));
    return;
  }
  put('} ');
  let m = k;
  if (m < 0) {
    put('-');
    m = -m;
  }
  const whole = Math.floor(m / 1000);
  putInteger(whole);
  let frac = m - whole * 1000;
  if (frac !== 0) {
    // Three places without the trailing zeros: 0.5 is 500 → "5", 0.05 is 050 → "05".
    let places = 3;
    while (frac % 10 === 0) {
      frac /= 10;
      places--;
    }
    put('.');
    if (places === 3 && frac < 100) put(frac < 10 ? '00' : '0');
    else if (places === 2 && frac < 10) put('0');
    putInteger(frac);
  }
  put('\n');
}

/** A safe integer's decimal digits (a minus sign first), as String() writes them: no string made. */
function putInteger(value: number): void {
  room(17);
  let v = value;
  if (v < 0) {
    scratch[pos++] = 0x2d;
    v = -v;
  }
  let digits = 1;
  for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
  let p = pos + digits;
  pos = p;
  do {
    const q = Math.floor(v / 10);
    scratch[--p] = 0x30 + (v - q * 10);
    v = q;
  } while (v > 0);
}

/** The start of family `f`'s line for the node: `name{cluster="…",node="…"`. */
function start(f: number, labels: string): void {
  put(NAMES[f] as string);
  put(labels);
}

/**
 * A node's samples: its mode always; health, services, checks and VRRP instances only from a
 * report of a live agent (a silent or disconnected agent's last report is history, not the present).
 * Under churn every scrape rebuilds most nodes, so the lines are written family by family into
 * one scratch buffer and copied into the node's own: no string per family, no join. `previous`
 * is the node's last view; with `inPlace` (no other scrape holds it) it is updated and returned,
 * its buffer reused when the lines fit, so a rebuild leaves no new object for the collector
 * to copy but the lines' own strings, which die at once.
 */
export function nodeSamples(cluster: string, labels: string, mode: NodeMode, snapshot: NodeSnapshot | undefined, generation: number, previous?: NodeView, inPlace = false): NodeView {
  const n = labels;
  pos = 0;
  const o = scratchOffsets;
  o[F.nodeMode] = pos;
  start(F.nodeMode, n);
  label(',state="', mode);
  end(1);
  o[F.nodeHealthy] = pos;
  // Which VIPs a node reports and holds rarely changes: the previous list is kept (already in the
  // old generation of the heap) unless it differs, and only then is a new one built.
  const before = previous?.cluster === cluster ? previous.instances : undefined;
  let instances: ReadonlyArray<readonly [string, boolean]> = EMPTY_INSTANCES;
  if (snapshot) {
    start(F.nodeHealthy, n);
    end(snapshot.healthy ? 1 : 0);
    const services = snapshot.services.length > MAX_PER_NODE.services ? snapshot.services.slice(0, MAX_PER_NODE.services) : snapshot.services;
    const checks = snapshot.checks.length > MAX_PER_NODE.checks ? snapshot.checks.slice(0, MAX_PER_NODE.checks) : snapshot.checks;
    const vrrp = snapshot.instances.length > MAX_PER_NODE.instances ? snapshot.instances.slice(0, MAX_PER_NODE.instances) : snapshot.instances;
    o[F.serviceUp] = pos;
    for (let k = 0; k < services.length; k++) {
      const svc = services[k] as ServiceStatus;
      start(F.serviceUp, n);
      label(',service="', svc.name);
      end(svc.state === 'running' ? 1 : 0);
    }
    o[F.serviceRestarts] = pos;
    for (let k = 0; k < services.length; k++) {
      const svc = services[k] as ServiceStatus;
      start(F.serviceRestarts, n);
      label(',service="', svc.name);
      end(svc.restarts);
    }
    o[F.proxyActiveConnections] = pos;
    for (let k = 0; k < services.length; k++) {
      const svc = services[k] as ServiceStatus;
      if (!svc.stats) continue;
      start(F.proxyActiveConnections, n);
      label(',service="', svc.name);
      end(svc.stats.activeConnections);
    }
    o[F.checkStatus] = pos;
    for (let k = 0; k < checks.length; k++) {
      const c = checks[k] as CheckStatus;
      start(F.checkStatus, n);
      label(',check="', c.name);
      label(',state="', c.result.kind);
      end(1);
    }
    o[F.checkDuration] = pos;
    for (let k = 0; k < checks.length; k++) {
      const c = checks[k] as CheckStatus;
      start(F.checkDuration, n);
      label(',check="', c.name);
      endMs(c.durationMs);
    }
    o[F.vrrpState] = pos;
    for (let k = 0; k < vrrp.length; k++) {
      const i = vrrp[k] as InstanceStatus;
      start(F.vrrpState, n);
      label(',vip="', i.name);
      label(',state="', i.state);
      end(1);
    }
    o[F.vrrpPriority] = pos;
    for (let k = 0; k < vrrp.length; k++) {
      const i = vrrp[k] as InstanceStatus;
      start(F.vrrpPriority, n);
      label(',vip="', i.name);
      end(i.effectivePriority);
    }
    o[F.vrrpForeignRouter] = pos;
    for (let k = 0; k < vrrp.length; k++) {
      const i = vrrp[k] as InstanceStatus;
      const foreign = i.foreignRouters ?? [];
      for (let j = 0; j < foreign.length && j < MAX_FOREIGN_PER_VIP; j++) {
        const r = foreign[j] as ForeignRouter;
        start(F.vrrpForeignRouter, n);
        label(',vip="', i.name);
        label(',source="', r.source);
        end(r.priority);
      }
    }
    instances = before !== undefined && sameInstances(before, vrrp) ? before : vrrp.map((i) => [i.name, holdsVip(i)] as const);
  } else {
    for (let f = F.nodeHealthy + 1; f < NODE_FAMILIES.length; f++) o[f] = pos;
  }
  o[NODE_FAMILIES.length] = pos;
  if (inPlace && previous && previous.cluster === cluster && previous.labels === labels) {
    // A few bytes of room, so that a value one digit longer next time still fits.
    if (previous.text.length < pos) previous.text = Buffer.allocUnsafe(pos + 32);
    copyBytes(scratch, 0, pos, previous.text, 0);
    previous.offsets.set(o);
    previous.snapshot = snapshot;
    previous.mode = mode;
    previous.instances = instances;
    previous.generation = generation;
    return previous;
  }
  const text = Buffer.allocUnsafe(pos + 32);
  copyBytes(scratch, 0, pos, text, 0);
  return { snapshot, mode, cluster, labels: n, text, offsets: Uint32Array.from(o), instances, generation };
}

const EMPTY_INSTANCES: ReadonlyArray<readonly [string, boolean]> = [];

/** The node holds the VIP: its instance is MASTER or the address is on its interface. */
function holdsVip(i: InstanceStatus): boolean {
  return i.state === 'master' || i.vipPresent;
}

/** `list` names the same VIPs in the same order, each held or not as `vrrp` says. */
function sameInstances(list: ReadonlyArray<readonly [string, boolean]>, vrrp: readonly InstanceStatus[]): boolean {
  if (list.length !== vrrp.length) return false;
  for (let k = 0; k < vrrp.length; k++) {
    const x = list[k] as readonly [string, boolean];
    const i = vrrp[k] as InstanceStatus;
    if (x[0] !== i.name || x[1] !== holdsVip(i)) return false;
  }
  return true;
}
