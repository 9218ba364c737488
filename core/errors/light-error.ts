import { STATUS_CATALOGUE, type StatusCode } from './catalogue.js';

export type ErrorArgs = Record<string, unknown>;

/** The JSON form of a status, as logged, audited and written to dead-letter headers. */
export interface Status {
  statusCode: number;
  code: StatusCode;
  message: string;
  description: string;
  severity: 'ERROR';
}

// A global brand, so `instanceof LightError` also holds for errors made by another copy of the package.
const BRAND = Symbol.for('light-kafka.LightError');

function fillTemplate(template: string, args: ErrorArgs): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    if (!(name in args)) return whole;
    const value = args[name];
    return typeof value === 'string' ? value : JSON.stringify(value);
  });
}

export class LightError extends Error {
  readonly status: Status;
  readonly args: ErrorArgs;
  readonly retryable: boolean;

  constructor(code: StatusCode, args: ErrorArgs = {}, options: { cause?: unknown } = {}) {
    const def = STATUS_CATALOGUE[code];
    const description = fillTemplate(def.description, args);
    super(`${code} ${description}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LightError';
    this.status = { statusCode: def.statusCode, code, message: def.message, description, severity: 'ERROR' };
    this.args = args;
    this.retryable = def.retryable;
    Object.defineProperty(this, BRAND, { value: true });
  }

  get code(): StatusCode {
    return this.status.code;
  }

  get statusCode(): number {
    return this.status.statusCode;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }

  /** Wraps any thrown value: a LightError is returned as it is, anything else becomes `fallback` with it as cause. */
  static wrap(error: unknown, fallback: StatusCode, args: ErrorArgs = {}): LightError {
    if (error instanceof LightError) return error;
    return new LightError(fallback, { ...args, reason: reasonOf(error) }, { cause: error });
  }
}

/**
 * How a failure is reported (dead-letter headers, audit, metrics, spans): a LightError's own status; anything
 * else a handler threw is 500 / ERR10010.
 */
export function failureStatusOf(error: unknown): { statusCode: number; code: StatusCode } {
  return error instanceof LightError ? { statusCode: error.statusCode, code: error.code } : { statusCode: 500, code: 'ERR10010' };
}

export function reasonOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
