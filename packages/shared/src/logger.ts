import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * One log shape for every binary: JSON lines from pino, a `component` binding,
 * and a stable `event` field on every entry that matters (`log.info({ event: 'agent.connected' }, '...')`).
 */
export function createLogger(component: string, options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  // Every logger of the tree, so that setLogLevel reaches children made before the change
  // (pino fixes a child's level when the child is created).
  const tree = new Set<WeakRef<Logger>>();
  const opts: LoggerOptions = {
    level: options.level ?? process.env['LBHA_LOG_LEVEL'] ?? 'info',
    onChild: (child) => {
      tree.add(new WeakRef(child));
    },
    base: { component },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  const root = options.destination ? pino(opts, options.destination as pino.DestinationStream) : pino(opts);
  trees.set(root, tree);
  return root;
}

const trees = new WeakMap<Logger, Set<WeakRef<Logger>>>();

/** Sets the level of a logger made by createLogger and of every child it has (a SIGHUP reload). */
export function setLogLevel(root: Logger, level: string): void {
  root.level = level;
  const tree = trees.get(root);
  if (!tree) return;
  for (const ref of tree) {
    const child = ref.deref();
    if (child) child.level = level;
    else tree.delete(ref);
  }
}

/** A logger that drops everything, for tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
