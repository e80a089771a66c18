// Authentication, authorisation, edge validation and audit for every ControlService method,
// applied by wrapping the service implementation: each method of the service definition is
// covered, including methods added later (they need the operator role until listed in
// method-policy.ts).
import {
  status,
  type Metadata,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { ControlServiceService, nameProblem, type ControlServiceServer, type Logger } from '@lbha/shared';
import type { EventLog } from '../event-log.js';
import type { Authenticator } from './authenticator.js';
import { MAX_REASON_LENGTH, policyOf, type MethodPolicy } from './method-policy.js';
import { allows, type Identity } from './roles.js';

type AnyCall = ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>;

const callers = new WeakMap<object, Identity>();

/** The authenticated caller of a ControlService call (set before the handler runs). */
export function callerOf(call: object): Identity | undefined {
  return callers.get(call);
}

/**
 * Marks a call as made by `who` (the HTTP API authenticates its requests itself and then calls
 * the same wrapped handlers); the wrapper then skips its own authentication.
 */
export function actAs(call: object, who: Identity): void {
  preauthenticated.set(call, who);
}
const preauthenticated = new WeakMap<object, Identity>();

export interface ControlAuthorizationOptions {
  readonly authenticator: Authenticator;
  readonly events: EventLog;
  readonly logger: Logger;
}

interface Refusal {
  readonly code: status;
  readonly details: string;
}

function metadataValue(md: Metadata | undefined, key: string): string | undefined {
  const v = md?.get(key)[0];
  return v === undefined ? undefined : Buffer.isBuffer(v) ? v.toString('utf8') : v;
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

export function authorizeControlService(impl: ControlServiceServer, opts: ControlAuthorizationOptions): ControlServiceServer {
  const { authenticator, events, logger } = opts;

  const admit = (method: string, call: AnyCall): { ok: true; who: Identity } | ({ ok: false } & Refusal) => {
    const policy = policyOf(method);
    let who = preauthenticated.get(call);
    if (!who) {
      const auth = authenticator.authenticate({
        authorization: metadataValue(call.metadata, 'authorization'),
        peerCertificate: call.getAuthContext?.()?.sslPeerCertificate?.raw,
      });
      if (!auth.ok) {
        logger.warn({ event: 'api.unauthenticated', method, peer: call.getPeer(), reason: auth.reason }, 'control call refused: not authenticated');
        return { ok: false, code: status.UNAUTHENTICATED, details: auth.reason };
      }
      who = auth.identity;
    }
    if (!allows(who.role, policy.role)) {
      logger.warn({ event: 'api.forbidden', method, actor: who.actor, role: who.role }, 'control call refused: role too weak');
      const details =
        who.role === 'agent'
          ? `${who.actor} has the agent role: agent certificates cannot call the control API`
          : `${methodTitle(method)} needs the ${policy.role} role; ${who.actor} has ${who.role}`;
      return { ok: false, code: status.PERMISSION_DENIED, details };
    }
    const problem = requestProblem(policy, call.request);
    if (problem) return { ok: false, code: status.INVALID_ARGUMENT, details: problem };
    callers.set(call, who);
    return { ok: true, who };
  };

  const audit = (method: string, who: Identity, request: unknown, err: Partial<ServiceError> | null, response: unknown) => {
    const policy = policyOf(method);
    const req = (request ?? {}) as Record<string, unknown>;
    const mutating = typeof policy.mutating === 'function' ? policy.mutating(req) : policy.mutating;
    if (!mutating) return;
    const str = (v: unknown) => (typeof v === 'string' ? v : '');
    const op = (response as { operation?: { id?: unknown } } | undefined)?.operation;
    const outcome = err ? `${status[err.code ?? status.UNKNOWN] ?? err.code}: ${err.details ?? ''}` : 'ok';
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
  };

  const wrapped: Record<string, unknown> = {};
  const definition = ControlServiceService as Record<string, { responseStream: boolean; requestStream: boolean }>;
  const handlers = impl as unknown as Record<string, (...args: unknown[]) => void>;
  for (const [method, def] of Object.entries(definition)) {
    const inner = handlers[method];
    if (typeof inner !== 'function') continue;
    if (!def.requestStream && !def.responseStream) {
      wrapped[method] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        const a = admit(method, call);
        if (!a.ok) return callback({ code: a.code, details: a.details } as ServiceError);
        let done = false;
        inner.call(impl, call, (err: Partial<ServiceError> | null, res?: unknown) => {
          if (done) return;
          done = true;
          try {
            audit(method, a.who, call.request, err, res);
          } catch (e) {
            logger.error({ event: 'api.audit_failed', method, err: e }, 'could not record the audit event');
          }
          callback(err as ServiceError | null, res);
        });
      };
    } else if (!def.requestStream && def.responseStream) {
      wrapped[method] = (call: ServerWritableStream<unknown, unknown>) => {
        const a = admit(method, call);
        if (!a.ok) {
          call.emit('error', { code: a.code, details: a.details });
          return;
        }
        inner.call(impl, call);
      };
    } else {
      // Client or bidirectional streaming: no such method today; admit on the first message is
      // not possible generically, so refuse rather than run it unchecked.
      wrapped[method] = (call: { emit: (e: string, v: unknown) => void }) =>
        call.emit('error', { code: status.UNIMPLEMENTED, details: `${methodTitle(method)} is not available` });
    }
  }
  return wrapped as unknown as ControlServiceServer;
}
