import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * One log shape for every binary: JSON lines from pino, a `component` binding,
 * and a stable `event` field on every entry that matters (`log.info({ event: 'agent.connected' }, '...')`).
 */
export function createLogger(component: string, options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? process.env['LBHA_LOG_LEVEL'] ?? 'info',
    base: { component },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return options.destination ? pino(opts, options.destination as pino.DestinationStream) : pino(opts);
}

/** A logger that drops everything, for tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
