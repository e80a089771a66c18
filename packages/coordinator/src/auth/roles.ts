// Who may do what. Roles are ordered for the control API: operator includes read-only.
// The agent role is separate: it opens agent streams and nothing else.

/** Roles a certificate or token can carry. */
export const ROLES = ['agent', 'operator', 'read-only'] as const;
export type Role = (typeof ROLES)[number];

/** Roles that may call the control API (gRPC ControlService and the HTTP API). */
export type ApiRole = Exclude<Role, 'agent'>;

/**
 * An authenticated caller. `actor` is what the event log records:
 * `cert:<name>` (client certificate), `token:<name>` (bearer token) or `anonymous`.
 */
export interface Identity {
  readonly kind: 'cert' | 'token' | 'anonymous';
  readonly name: string;
  readonly role: Role;
  readonly actor: string;
}

export function identity(kind: Identity['kind'], name: string, role: Role): Identity {
  return { kind, name, role, actor: kind === 'anonymous' ? 'anonymous' : `${kind}:${name}` };
}

/** Whether `role` may call a method that needs `required`. */
export function allows(role: Role, required: ApiRole): boolean {
  if (role === 'agent') return false;
  return required === 'read-only' || role === 'operator';
}

/** Trust domain of the SPIFFE-style URI SAN that carries role and name: spiffe://lbha/<role>/<name>. */
export const TRUST_DOMAIN = 'lbha';

export function identityUri(role: Role | 'coordinator', name: string): string {
  return `spiffe://${TRUST_DOMAIN}/${role}/${name}`;
}
