/** Thrown when a message from the wire is malformed: an unknown enum value, a missing field. */
export class WireError extends Error {
  override readonly name = 'WireError';
  constructor(
    /** Dotted path of the offending field. */
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
  }
}

/** One problem found in a configuration or spec document. */
export interface ConfigIssue {
  /** Dotted path of the offending field, e.g. "clusters[0].vips[1].vrid". */
  readonly path: string;
  /** 1-based line in the source document, 0 when unknown. */
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

/** Thrown when a configuration file is unreadable or invalid; carries every issue found. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly issues: readonly ConfigIssue[],
    options?: { cause?: unknown },
  ) {
    super(formatIssues(source, issues), options);
  }
}

export function formatIssues(source: string, issues: readonly ConfigIssue[]): string {
  return issues
    .map((i) => `${source}${i.line > 0 ? `:${i.line}:${i.column}` : ''}: ${i.path ? `${i.path}: ` : ''}${i.message}`)
    .join('\n');
}
