// Authentication, authorisation, edge validation and audit for every operator API method, as a
// decorator of the ControlApi: each method of the service definition is covered, including
// methods added later (they need the operator role until listed in method-policy.ts). Over
// gRPC it authenticates the caller; the HTTP API authenticates its requests itself and passes
// the identity in.
import { nameProblem, type Logger } from '@lbha/shared';
import { decorate, type Caller, type ControlApi, type ControlMethod } from '../control-api.js';
import type { AuditLog } from '../audit-log.js';
import { ApiError, PermissionError, toApiError } from '../errors.js';
import type { EventLog } from '../event-log.js';
import { clientAddress } from './auth-throttle.js';
import type { AuthOutcome, Credentials } from './authenticator.js';
import { MAX_REASON_LENGTH, policyOf, type MethodPolicy } from './method-policy.js';
import { allows, type Identity } from './roles.js';

export interface ControlAuthorizationOptions {
  /** Authenticates what a caller at an address presented (throttled per address). */
  readonly authenticate: (c: Credentials, address: string) => AuthOutcome | { readonly ok: false; readonly reason: string; readonly retryAfterMs: number };
  /** Takes a call from the caller's request budget: 0 when granted, else the wait in ms. */
  readonly takeRequest?: (caller: string, method: string) => number;
  readonly events: EventLog;
  /** Where every mutating call is recorded durably (when this coordinator keeps the trail). */
  readonly audit?: AuditLog;
  readonly logger: Logger;
}

/** Checks the request fields the policy names; returns the first problem. */
export function requestProblem(policy: MethodPolicy, request: unknown): string | undefined {
  const req = (request ?? {}) as Record<string, unknown>;
  for (const f of policy.required ?? []) {
    const v = req[f];
    if (typeof v !== 'string' || v === '') return `${f}: must not be empty`;
  }
  for (const f of policy.names ?? []) {
    const v = req[f];
    if (typeof v === 'string' && v !== '') {
      const p = nameProblem(v);
      if (p) return `${f}: ${p}`;
    }
  }
  const reason = req['reason'];
  if (typeof reason === 'string' && reason.length > MAX_REASON_LENGTH) return `reason: at most ${MAX_REASON_LENGTH} characters`;
  return undefined;
}

function methodTitle(method: string): string {
  return method.charAt(0).toUpperCase() + method.slice(1);
}

export function authorizeControl(api: ControlApi, opts: ControlAuthorizationOptions): ControlApi {
  const { authenticate, events, logger, audit: trail } = opts;

  /** The caller's identity once it may make the call; throws the ApiError refusing it otherwise. */
  const admit = (method: ControlMethod, caller: Caller, request: unknown): Identity => {
    const policy = policyOf(method);
    let who = caller.identity;
    if (!who) {
      // Failures are counted and logged (boundedly) by the throttle, not here: anyone can cause them.
      const auth = authenticate({ authorization: caller.authorization, peerCertificate: caller.peerCertificate }, clientAddress(caller.peer));
      if (!auth.ok) throw new ApiError('retryAfterMs' in auth ? 'RESOURCE_EXHAUSTED' : 'UNAUTHENTICATED', auth.reason);
      who = auth.identity;
    }
    // A call a coordinator forwards was counted where it came in.
    if (opts.takeRequest && !caller.forwarded?.verified) {
      const waitMs = opts.takeRequest(who.actor === 'anonymous' ? `anonymous@${clientAddress(caller.peer)}` : who.actor, method);
      if (waitMs > 0) throw new ApiError('RESOURCE_EXHAUSTED', `${who.actor} is calling faster than the coordinator allows; retry in ${waitMs}ms`);
    }
    if (!allows(who.role, policy.role)) {
      logger.warn({ event: 'api.forbidden', method, actor: who.actor, role: who.role }, 'control call refused: role too weak');
      throw new PermissionError(
        who.role === 'agent' ? `${who.actor} has the agent role: agent certificates cannot call the control API` : `${methodTitle(method)} needs the ${policy.role} role; ${who.actor} has ${who.role}`,
      );
    }
    const problem = requestProblem(policy, request);
    if (problem) throw new ApiError('INVALID_ARGUMENT', problem);
    return who;
  };

  /**
   * Records a mutating call in the audit trail (durably: resolves once written) and as an
   * api.call event. Only where the trail is kept: a follower forwards the call, and the leader
   * records it once, as the original caller's.
   */
  const audit = async (method: ControlMethod, who: Identity, caller: Caller, request: unknown, err: ApiError | undefined, response: unknown): Promise<void> => {
    const policy = policyOf(method);
    const req = (request ?? {}) as Record<string, unknown>;
    const mutating = typeof policy.mutating === 'function' ? policy.mutating(req) : policy.mutating;
    if (!mutating) return;
    if (trail && !trail.keeping) return;
    const str = (v: unknown) => (typeof v === 'string' ? v : '');
    const op = (response as { operation?: { id?: unknown } } | undefined)?.operation;
    const outcome = err ? `${err.code}: ${err.message}` : 'ok';
    const target = ['cluster', 'node', 'service'].map((f) => (str(req[f]) ? `${f}=${str(req[f])}` : '')).filter(Boolean).join(' ');
    events.record({
      type: 'api.call',
      actor: who.actor,
      severity: err ? 'warning' : 'info',
      cluster: str(req['cluster']),
      node: str(req['node']),
      operationId: str(op?.id),
      reason: str(req['reason']),
      message: `${methodTitle(method)}${target ? ` ${target}` : ''} by ${who.actor}: ${outcome}`,
    });
    // Answered once on record: the audit entry, and every event the call caused.
    const settled = events.settled();
    await trail?.record({
      actor: who.actor,
      role: who.role,
      method: methodTitle(method),
      cluster: str(req['cluster']),
      node: str(req['node']),
      service: str(req['service']),
      reason: str(req['reason']),
      outcome,
      operationId: str(op?.id),
      peer: caller.forwarded?.verified ? `${caller.forwarded.for} via ${caller.peer}` : caller.peer,
    });
    await settled;
  };

  /** The answer waits for the audit record, so an acknowledged mutation is always on record. */
  const audited = (method: ControlMethod, who: Identity, caller: Caller, request: unknown, err: ApiError | undefined, response: unknown) =>
    audit(method, who, caller, request, err, response).catch((e: unknown) => logger.error({ event: 'api.audit_failed', method, err: e }, 'could not record the audit event'));

  return decorate(api, {
    unary: (method, inner) => async (request, caller) => {
      const who = admit(method, caller, request);
      let res: unknown;
      try {
        res = await inner(request, { ...caller, identity: who });
      } catch (e) {
        const err = toApiError(e);
        await audited(method, who, caller, request, err, undefined);
        throw err;
      }
      await audited(method, who, caller, request, undefined, res);
      return res;
    },
    streaming: (method, inner) => (request, caller, sink) => {
      const who = admit(method, caller, request);
      inner(request, { ...caller, identity: who }, sink);
    },
  });
}
