import { applyDelta, isLive, type AgentHello, type Command, type CommandResult, type DesiredState, type NodeDelta, type NodeLink, type NodeSnapshot } from '@lbha/shared';

/** The coordinator side of one agent stream. */
export interface AgentSession {
  readonly id: string;
  readonly peer: string;
  sendDesiredState(desired: DesiredState): void;
  sendCommand(command: Command): void;
  /** Ends the stream (e.g. when a newer session of the same agent replaces it). */
  close(reason: string): void;
}

/** What the coordinator knows of one node's agent. */
export interface NodeRecord {
  readonly name: string;
  cluster: string;
  link: NodeLink;
  lastSeenMs: number;
  connectedSinceMs: number;
  agentVersion: string;
  /** What the agent said it can do (Hello). */
  capabilities: readonly string[];
  bootId: string;
  peer: string;
  snapshot: NodeSnapshot | undefined;
  /** The last desired-state version the agent acknowledged. */
  appliedVersion: number;
  /** Error of the last NACK; empty after an ACK. */
  nackError: string;
  session: AgentSession | undefined;
}

export type AttachOutcome = { readonly ok: true; readonly record: NodeRecord } | { readonly ok: false; readonly reason: string };

export type RegistryEvent =
  | { readonly type: 'connected'; readonly node: string; readonly replaced: boolean }
  | { readonly type: 'disconnected'; readonly node: string; readonly reason: string }
  | { readonly type: 'stale'; readonly node: string; readonly silentMs: number }
  | { readonly type: 'fresh'; readonly node: string }
  | { readonly type: 'state'; readonly node: string; readonly full: boolean }
  | { readonly type: 'ack'; readonly node: string; readonly version: number; readonly accepted: boolean; readonly error: string }
  | { readonly type: 'command-result'; readonly node: string; readonly result: CommandResult }
  | { readonly type: 'forgotten'; readonly node: string };

export interface AttachOptions {
  /**
   * Without TLS nothing proves who an agent is, so the boot id (a secret the agent never
   * shows) is not enough to take over a live session: the new stream must also come from the
   * same host as the live one.
   */
  readonly samePeerHost?: boolean;
}

/** "10.0.0.5" of "ipv4:10.0.0.5:4711" (grpc-js peer names), "[::1]" of "ipv6:[::1]:4711". */
function peerHost(peer: string): string {
  return peer.replace(/^ipv[46]:/, '').replace(/:\d+$/, '');
}

/**
 * The way in: every node whose agent has ever connected, its link, its last reported state and
 * the events of what agents did (connect, report, acknowledge, answer, go silent). What the
 * coordinator sends goes out through the AgentOutbox, never through here. One live session per
 * node name: a second agent claiming a live node's name is refused, unless it is the same agent
 * process (same boot id) reconnecting.
 */
export class Registry {
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly listeners = new Set<(e: RegistryEvent) => void>();
  /** Sessions whose silence is judged as of what their reporter last said (judgeBy). */
  private readonly judged = new Map<string, { readonly sessionId: string; readonly seenUpTo: () => number | undefined }>();

  constructor(
    private readonly staleAfterMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  subscribe(listener: (e: RegistryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: RegistryEvent): void {
    for (const l of this.listeners) l(e);
  }

  /** The registry's clock (what lastSeenMs is in). */
  now(): number {
    return this.clock();
  }

  get(name: string): NodeRecord | undefined {
    return this.nodes.get(name);
  }

  /** Every record, unsorted and without copying (for passes over the whole fleet). */
  records(): IterableIterator<NodeRecord> {
    return this.nodes.values();
  }

  list(cluster?: string): NodeRecord[] {
    const all = [...this.nodes.values()];
    return (cluster ? all.filter((n) => n.cluster === cluster) : all).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Binds a new session to a node name, or refuses it when another live agent holds the name. */
  attach(hello: AgentHello, session: AgentSession, opts: AttachOptions = {}): AttachOutcome {
    const now = this.clock();
    const existing = this.nodes.get(hello.node);
    let replaced = false;
    if (existing && existing.link !== 'disconnected' && existing.session) {
      const live = isLive(existing.link) && now - existing.lastSeenMs < this.staleAfterMs;
      // The refusal says nothing about the live agent (no address, no boot id): the caller may
      // be an impostor fishing for what would let it replace the real one.
      if (live && (existing.bootId !== hello.bootId || (opts.samePeerHost && peerHost(existing.peer) !== peerHost(session.peer)))) {
        return { ok: false, reason: `node ${hello.node} is already connected; refusing a second agent with that name` };
      }
      const old = existing.session;
      existing.session = undefined;
      old.close(live ? 'replaced by a new stream of the same agent' : 'replaced after missing heartbeats');
      replaced = true;
    }
    const record: NodeRecord = existing ?? {
      name: hello.node,
      cluster: hello.cluster,
      link: 'disconnected',
      lastSeenMs: now,
      connectedSinceMs: now,
      agentVersion: '',
      capabilities: [],
      bootId: '',
      peer: '',
      snapshot: undefined,
      appliedVersion: 0,
      nackError: '',
      session: undefined,
    };
    record.cluster = hello.cluster;
    record.link = 'connected';
    record.lastSeenMs = now;
    record.connectedSinceMs = now;
    record.agentVersion = hello.agentVersion;
    record.capabilities = [...(hello.capabilities ?? [])];
    record.bootId = hello.bootId;
    record.peer = session.peer;
    record.appliedVersion = hello.appliedVersion;
    record.session = session;
    this.nodes.set(hello.node, record);
    this.emit({ type: 'connected', node: hello.node, replaced });
    return { ok: true, record };
  }

  /** Ends a session; ignored when the node has since been bound to a newer session. */
  detach(node: string, sessionId: string, reason: string): void {
    const r = this.nodes.get(node);
    if (!r || r.session?.id !== sessionId) return;
    r.link = 'disconnected';
    r.session = undefined;
    this.emit({ type: 'disconnected', node, reason });
  }

  private current(node: string, sessionId: string): NodeRecord | undefined {
    const r = this.nodes.get(node);
    return r && r.session?.id === sessionId ? r : undefined;
  }

  touch(node: string, sessionId: string): void {
    const r = this.current(node, sessionId);
    if (!r) return;
    r.lastSeenMs = this.clock();
    if (r.link === 'stale') {
      r.link = 'connected';
      this.emit({ type: 'fresh', node });
    }
  }

  setSnapshot(node: string, sessionId: string, snapshot: NodeSnapshot): void {
    const r = this.current(node, sessionId);
    if (!r) return;
    r.snapshot = snapshot;
    r.appliedVersion = snapshot.appliedVersion;
    this.touch(node, sessionId);
    this.emit({ type: 'state', node, full: true });
  }

  applyDelta(node: string, sessionId: string, delta: NodeDelta): void {
    const r = this.current(node, sessionId);
    if (!r || !r.snapshot) return;
    r.snapshot = applyDelta(r.snapshot, delta);
    if (delta.appliedVersion !== undefined) r.appliedVersion = delta.appliedVersion;
    this.touch(node, sessionId);
    this.emit({ type: 'state', node, full: false });
  }

  recordAck(node: string, sessionId: string, version: number, accepted: boolean, error: string): void {
    const r = this.current(node, sessionId);
    if (!r) return;
    if (accepted) {
      r.appliedVersion = Math.max(r.appliedVersion, version);
      r.nackError = '';
    } else {
      r.nackError = error || 'refused without a reason';
    }
    this.touch(node, sessionId);
    this.emit({ type: 'ack', node, version, accepted, error });
  }

  recordCommandResult(node: string, sessionId: string, result: CommandResult): void {
    const r = this.current(node, sessionId);
    if (!r) return;
    this.touch(node, sessionId);
    this.emit({ type: 'command-result', node, result });
  }

  /**
   * Drops the record of a node whose agent is gone (never one that is connected), so records of
   * names that are not in the spec do not pile up; listeners drop what they keep per node.
   */
  forget(node: string): boolean {
    const r = this.nodes.get(node);
    if (!r || r.link !== 'disconnected') return false;
    this.nodes.delete(node);
    this.emit({ type: 'forgotten', node });
    return true;
  }

  /**
   * Judges the silence of `node`'s session `sessionId` as of `seenUpTo()` (when its reporter
   * last reported what it read) instead of now, so that a report that is late does not make the
   * agent stale; once the reporter has said nothing for staleAfter (or has not reported yet,
   * undefined), as of now again. So an agent behind a reporter that stopped is stale at the
   * latest staleAfter after the reporter's last report. `undefined` ends it (the session ended).
   */
  judgeBy(node: string, sessionId: string, seenUpTo: (() => number | undefined) | undefined): void {
    if (seenUpTo) this.judged.set(node, { sessionId, seenUpTo });
    else if (this.judged.get(node)?.sessionId === sessionId) this.judged.delete(node);
  }

  /** Marks nodes stale whose agents went silent; call periodically. */
  sweep(): void {
    const now = this.clock();
    for (const r of this.nodes.values()) {
      let at = now;
      const j = this.judged.size > 0 ? this.judged.get(r.name) : undefined;
      if (j && r.session?.id === j.sessionId) {
        const upTo = j.seenUpTo();
        if (upTo !== undefined && now - upTo < this.staleAfterMs) at = upTo;
      }
      const silent = at - r.lastSeenMs;
      if (r.link === 'connected' && silent >= this.staleAfterMs) {
        r.link = 'stale';
        this.emit({ type: 'stale', node: r.name, silentMs: silent });
      }
    }
  }
}
