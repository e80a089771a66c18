// Errors thrown by the agent. Expected outcomes (a check failing, a config that does not
// validate, a refused command) are unions, not exceptions; these are for outages and bugs.

/** Thrown when a daemon cannot be spawned, signalled or driven through systemctl. */
export class ServiceError extends Error {
  override readonly name = 'ServiceError';
  constructor(
    readonly service: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${service}: ${message}`, options);
  }
}

/** Thrown when the agent's state or runtime directory cannot be read or written. */
export class StateError extends Error {
  override readonly name = 'StateError';
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${message}`, options);
  }
}

/** Thrown when a desired state cannot be turned into a keepalived configuration. */
export class RenderError extends Error {
  override readonly name = 'RenderError';
  constructor(
    /** Dotted path of the offending field, e.g. "instances[1].vip". */
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
  }
}
