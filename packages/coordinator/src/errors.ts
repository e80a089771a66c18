/** Thrown when an API call names something that does not exist (node, VIP, operation). */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}

/** Thrown when an API call is well-formed but not allowed in the current state (interlock, busy node). */
export class PreconditionError extends Error {
  override readonly name = 'PreconditionError';
}

/** Thrown when an API call carries a malformed argument; `field` names it. */
export class InvalidArgumentError extends Error {
  override readonly name = 'InvalidArgumentError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** Thrown when a caller lacks the credentials or role for a call. */
export class PermissionError extends Error {
  override readonly name = 'PermissionError';
}

/** Thrown when the coordinator's store cannot be read or written, or holds something unreadable. */
export class StoreError extends Error {
  override readonly name = 'StoreError';
}

/** Thrown inside an operation when a step fails; the operation ends as failed with this message. */
export class OperationFailedError extends Error {
  override readonly name = 'OperationFailedError';
}

/**
 * Thrown when a caller asks for more than the coordinator grants right now: too many
 * validations, watchers or requests at once. Retrying later may succeed.
 */
export class ResourceExhaustedError extends Error {
  override readonly name = 'ResourceExhaustedError';
}
