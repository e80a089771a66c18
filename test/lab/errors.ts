// Errors of the network-namespace lab. Expected outcomes (a VIP not yet moved, a request that
// failed) are values; these are thrown when the lab itself cannot do what it was asked (a wait
// that times out throws @lbha/test-support's WaitTimeoutError).

/** Thrown when a command the lab runs (ip, nginx -t, keepalived ...) exits non-zero or cannot start. */
export class LabCommandError extends Error {
  override readonly name = 'LabCommandError';
  constructor(
    readonly command: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(`${command.join(' ')} failed (exit ${exitCode ?? 'signal'}): ${stderr.trim() || 'no output'}`, options);
  }
}

/** Thrown when the lab is asked for something it cannot do: not root, unknown node, bad option. */
export class LabUsageError extends Error {
  override readonly name = 'LabUsageError';
}
