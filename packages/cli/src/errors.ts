/** Thrown for a bad command line: unknown command, missing or malformed argument. Exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Thrown when the coordinator cannot be reached or refuses the call. Exit code 1. */
export class CallError extends Error {
  override readonly name = 'CallError';
  constructor(
    message: string,
    readonly code: number | undefined,
  ) {
    super(message);
  }
}
