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
  return new JsonLogger(level, sink, options.bindings ?? {});
}

// A class, so a child logger (one per record in the correlation handler) is one small object, not five closures.
class JsonLogger implements Logger {
  private readonly threshold: number;

  constructor(
    readonly level: LogLevel,
    private readonly sink: LogSink,
    private readonly bindings: Record<string, unknown>,
    private readonly parent?: JsonLogger,
  ) {
    this.threshold = LEVELS[level];
  }

  debug(message: string, fields?: Record<string, unknown>): void {
    this.write('debug', message, fields);
  }

  info(message: string, fields?: Record<string, unknown>): void {
    this.write('info', message, fields);
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    this.write('warn', message, fields);
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.write('error', message, fields);
  }

  child(more: Record<string, unknown>): Logger {
    // The bindings are merged when a line is written, not here: most child loggers never write a line.
    return new JsonLogger(this.level, this.sink, more, this);
  }

  private write(lineLevel: LogLevel, message: string, fields?: Record<string, unknown>): void {
    if (LEVELS[lineLevel] < this.threshold) return;
    this.sink(JSON.stringify({ time: new Date().toISOString(), level: lineLevel, msg: message, ...this.allBindings(), ...serializeFields(fields) }));
  }

  private allBindings(): Record<string, unknown> {
    return this.parent ? { ...this.parent.allBindings(), ...this.bindings } : this.bindings;
  }
}

function serializeFields(fields?: Record<string, unknown>): Record<string, unknown> | undefined {
  if (!fields) return undefined;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) {
    out[name] = value instanceof Error ? { name: value.name, message: value.message, stack: value.stack } : value;
  }
  return out;
}
