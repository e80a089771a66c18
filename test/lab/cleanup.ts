// Removes lab runs: one run by id (what `down` does), or every leftover of a crashed run.
// Tolerant of partial state: any of namespaces, processes, run dir and registry entry may be missing.
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { NAMESPACE_PREFIX, ownerOfScratchNamespace, runIdOfNamespace } from './lab-names.js';
import { deleteNamespaces, killNamespaceProcesses, listNamespaces, namespacePids } from './network.js';
import { REGISTRY_DIR, isOwnerAlive, isProcessAlive, listRegisteredRuns, readRun, unregisterRun } from './run-registry.js';

export interface CleanupOptions {
  /** Also remove runs whose owner process is still alive. */
  readonly all?: boolean;
  readonly log?: (line: string) => void;
}

/** Processes outside the lab's namespaces that belong to a run: their command line names its run dir. */
export function hostProcessesOfRun(runDir: string): number[] {
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmdline.split('\0').some((arg) => arg.startsWith(`${runDir}/`) || arg === runDir || arg.includes(`=${runDir}/`))) {
      pids.push(pid);
    }
  }
  return pids;
}

async function killPids(pids: readonly number[], graceMs = 1500): Promise<void> {
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const send = (pid: number, sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch {
      // Already gone.
    }
  };
  for (const pid of pids) send(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && pids.some(alive)) await new Promise((resolve) => setTimeout(resolve, 50));
  for (const pid of pids.filter(alive)) send(pid, 'SIGKILL');
}

function listEtcNetns(): string[] {
  try {
    return readdirSync('/etc/netns');
  } catch {
    return [];
  }
}

/** Stops what runs in the namespaces, then deletes them. */
async function removeNamespaces(namespaces: readonly string[]): Promise<void> {
  await killNamespaceProcesses(namespaces);
  await deleteNamespaces(namespaces);
}

/**
 * Of the namespaces a test is about to create, removes those that exist already, with what runs
 * in them: a crashed run of an earlier process with the same pid left them (a live owner's
 * namespaces are kept by cleanupRuns, and the owner is now this process). Returns their names.
 */
export async function removeLeftoverNamespaces(names: readonly string[]): Promise<string[]> {
  const existing = new Set(await listNamespaces());
  const left = names.filter((ns) => existing.has(ns));
  await removeNamespaces(left);
  return left;
}

/** Removes everything of one run. Keeps the run dir when asked to (or when the run asked for it). */
export async function removeRun(runId: string, keepRunDir?: boolean): Promise<void> {
  const entry = readRun(runId);
  const namespaces = (await listNamespaces()).filter((ns) => runIdOfNamespace(ns) === runId);
  if (entry !== undefined) await killPids(hostProcessesOfRun(entry.runDir));
  await removeNamespaces(namespaces);
  // Per-namespace /etc overlays (`ip netns exec` bind-mounts /etc/netns/NS/* over /etc/*).
  for (const ns of namespaces) rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
  for (const ns of listEtcNetns().filter((name) => runIdOfNamespace(name) === runId)) {
    rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
  }
  if (entry !== undefined) {
    // Daemons whose namespace was already deleted by a half-finished teardown still name the run dir.
    await killPids(hostProcessesOfRun(entry.runDir), 500);
    if (!(keepRunDir ?? entry.keepRunDir)) rmSync(entry.runDir, { recursive: true, force: true });
  }
  unregisterRun(runId);
}

/**
 * Removes the leftovers of crashed lab runs: runs whose owner process is gone, and lab namespaces
 * no registered run claims; and the scratch namespaces of test processes that are gone. With
 * `all`, every lab run and scratch namespace on the host. Namespaces named otherwise are not
 * lbha's and are left alone (nothing of the lab depends on them being absent). Returns the run
 * ids removed.
 */
export async function cleanupRuns(options: CleanupOptions = {}): Promise<string[]> {
  const log = options.log ?? (() => undefined);
  const ids = new Set<string>();
  const namespaces = await listNamespaces();
  for (const ns of namespaces) {
    const owner = ownerOfScratchNamespace(ns);
    if (owner === undefined || (!options.all && isProcessAlive(owner))) continue;
    log(`removing scratch namespace ${ns} (test process ${owner} is gone)`);
    await removeNamespaces([ns]);
  }
  for (const ns of namespaces) {
    const id = runIdOfNamespace(ns);
    if (id !== undefined) ids.add(id);
  }
  for (const entry of listRegisteredRuns()) ids.add(entry.runId);
  for (const name of listEtcNetns()) {
    const id = runIdOfNamespace(name);
    if (id !== undefined) ids.add(id);
  }
  const removed: string[] = [];
  for (const id of ids) {
    const entry = readRun(id);
    if (!options.all && entry !== undefined && isOwnerAlive(entry)) continue;
    log(`removing lab run ${id}${entry ? ` (${entry.runDir})` : ` (namespaces ${NAMESPACE_PREFIX}${id}-*)`}`);
    await removeRun(id);
    removed.push(id);
  }
  return removed;
}

/** What is left of a run on the host (empty after a clean `down`): for tests that check cleanup. */
export async function runLeftovers(runId: string, runDir: string): Promise<string[]> {
  const left: string[] = [];
  for (const ns of (await listNamespaces()).filter((name) => runIdOfNamespace(name) === runId)) {
    left.push(`namespace ${ns} (pids: ${(await namespacePids(ns)).join(' ') || 'none'})`);
  }
  for (const pid of hostProcessesOfRun(runDir)) left.push(`process ${pid}`);
  for (const ns of listEtcNetns().filter((name) => runIdOfNamespace(name) === runId)) left.push(`/etc/netns/${ns}`);
  if (existsSync(`${REGISTRY_DIR}/${runId}.json`)) left.push(`${REGISTRY_DIR}/${runId}.json`);
  return left;
}
