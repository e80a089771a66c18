// Names of everything a lab run creates. Every name carries the run id, so leftovers of a crashed
// run can be found by prefix and never collide with another run or with the host's own objects.
import { randomBytes } from 'node:crypto';

/** Prefix of every lab network namespace: `lbhalab-<id>-<role>`. */
export const NAMESPACE_PREFIX = 'lbhalab-';

export type NodeRole = 'client' | 'lb1' | 'lb2' | 'web1' | 'web2';
export const NODE_ROLES: readonly NodeRole[] = ['client', 'lb1', 'lb2', 'web1', 'web2'];
export type LbNode = 'lb1' | 'lb2';
export type WebNode = 'web1' | 'web2';
export const LB_NODES: readonly LbNode[] = ['lb1', 'lb2'];
export const WEB_NODES: readonly WebNode[] = ['web1', 'web2'];

const RUN_ID = /^[0-9a-f]{6}$/;

export function newRunId(): string {
  return randomBytes(3).toString('hex');
}

export function isRunId(value: string): boolean {
  return RUN_ID.test(value);
}

export interface LabNames {
  readonly runId: string;
  /** Namespace of each node. */
  readonly ns: Readonly<Record<NodeRole, string>>;
  /** Namespace that holds the bridges (nothing of the lab lives in the host namespace). */
  readonly fabricNs: string;
  readonly outerBridge: string;
  readonly innerBridge: string;
  /** Fabric-side name of the veth whose other end is `iface` in `role`'s namespace (<= 15 chars). */
  fabricPort(role: NodeRole, iface: 'eth1' | 'eth2'): string;
}

export function labNames(runId: string): LabNames {
  if (!isRunId(runId)) throw new Error(`invalid lab run id ${JSON.stringify(runId)}`);
  const ns = (role: string): string => `${NAMESPACE_PREFIX}${runId}-${role}`;
  const short = `l${runId}`;
  const portTag: Record<NodeRole, string> = { client: 'c', lb1: 'a', lb2: 'b', web1: 'w', web2: 'x' };
  return {
    runId,
    ns: { client: ns('client'), lb1: ns('lb1'), lb2: ns('lb2'), web1: ns('web1'), web2: ns('web2') },
    fabricNs: ns('fabric'),
    outerBridge: `${short}-out`,
    innerBridge: `${short}-in`,
    fabricPort: (role, iface) => `${short}-${portTag[role]}${iface.slice(3)}`,
  };
}

/**
 * Prefix of the scratch namespaces tests create outside a lab run: `lbha-t-<owner pid>-<what>`.
 * The owner's pid lets a cleanup remove those of a test process that died before its own `after`.
 * (packages/agent/test/helpers/netns.ts builds the same names; it cannot import this file.)
 */
export const SCRATCH_PREFIX = 'lbha-t-';

/** A scratch namespace name owned by this process. */
export function scratchNamespace(what: string): string {
  return `${SCRATCH_PREFIX}${process.pid}-${what}`;
}

/** The pid that owns a scratch namespace, or undefined when the name is not one. */
export function ownerOfScratchNamespace(name: string): number | undefined {
  const m = /^lbha-t-(\d+)-./.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** Run id of a lab namespace name, or undefined when the name is not one of the lab's. */
export function runIdOfNamespace(name: string): string | undefined {
  if (!name.startsWith(NAMESPACE_PREFIX)) return undefined;
  const id = name.slice(NAMESPACE_PREFIX.length).split('-')[0] ?? '';
  return isRunId(id) ? id : undefined;
}
