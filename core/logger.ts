export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `bindings` to every line (e.g. the correlation id of the current record). */
  child(bindings: Record<string, unknown>): Logger;
  readonly level: LogLevel;
}

export type LogSink = (line: string) => void;

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && value in LEVELS;
}

/** One JSON object per line: time, level, msg, the bindings, then the fields. */
export function createLogger(
  options: { level?: LogLevel; bindings?: Record<string, unknown>; sink?: LogSink } = {},
): Logger {
  const envLevel = process.env.LOG_LEVEL;
  const level: LogLevel = options.level ?? (isLogLevel(envLevel) ? envLevel : 'info');
  const sink: LogSink = options.sink ?? ((line) => process.stdout.write(line + '\n'));
  const bindings = options.bindings ?? {};
  const threshold = LEVELS[level];

  function write(lineLevel: LogLevel, message: string, fields?: Record<string, unknown>): void {
    if (LEVELS[lineLevel] < threshold) return;
    sink(JSON.stringify({ time: new Date().toISOString(), level: lineLevel, msg: message, ...bindings, ...serializeFields(fields) }));
  }

  return {
    level,
    debug: (message, fields) => write('debug', message, fields),
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
    child: (more) => createLogger({ level, sink, bindings: { ...bindings, ...more } }),
  };
}

function serializeFields(fields?: Record<string, unknown>): Record<string, unknown> | undefined {
  if (!fields) return undefined;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) {
    out[name] = value instanceof Error ? { name: value.name, message: value.message, stack: value.stack } : value;
  }
  return out;
}
