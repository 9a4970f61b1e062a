/**
 * Structured JSON logs (pino) for every Weir process, with the fields that could carry a
 * secret redacted wherever they appear, so that nothing secret reaches a log line.
 */
import { pino, type Logger } from 'pino';

/** Paths pino censors in every log line: credentials and tokens, at the top and one level down. */
export const REDACTED_PATHS = [
  'password',
  'token',
  'authorization',
  'secret',
  'apiKey',
  'headers.authorization',
  'headers.cookie',
].flatMap((p) => [p, `*.${p}`]);

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Names the process in every line, such as `weir-operator` or `weir-gateway`. */
  component: string;
  level?: string;
  /** Fields on every line besides the component (for example the pipeline a processor serves). */
  base?: Record<string, unknown>;
  /** Where lines go; standard output unless given (tests pass a stream they read). */
  destination?: pino.DestinationStream;
}

/** A logger that writes JSON lines with the component and `base` on every line. */
export function createLogger(options: LoggerOptions): Logger {
  const settings = {
    level: options.level ?? 'info',
    base: { component: options.component, ...options.base },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}

/** A logger that writes nothing, for code given no logger. */
export function silentLogger(): Logger {
  return pino({ enabled: false });
}

export type { Logger };
