import type { Span } from 'opentracing';
import type { Logger } from './logger.js';
import type { Identity, IdentityHeaderNames, RecordClaims, VerificationStats } from './identity.js';

/**
 * A typed key: `get(key)` returns the type the key was declared with, so no call site casts. A handler declares
 * the keys it publishes next to its code (or here, for the ones every built-in shares).
 */
export class TypedKey<T> {
  /** Carries T for the compiler only. */
  declare readonly valueType?: T;
  /** Registered by name, so two copies of the package (or a handler package of its own) share the key. */
  readonly id: symbol;
  constructor(readonly name: string) {
    this.id = Symbol.for(name);
  }
  toString(): string {
    return `TypedKey(${this.name})`;
  }
}

/** A typed key; give it a name of your own namespace (e.g. 'my-company.tenant'): keys with one name are one key. */
export function typedKey<T>(name: string): TypedKey<T> {
  return new TypedKey<T>(name);
}

/**
 * A map of typed values: exchange attachments, request-context values, services shared between handlers.
 * Plain string keys still work for a service's own code (their values are `unknown`).
 */
export class TypedMap {
  private readonly entries = new Map<symbol | string, unknown>();

  constructor(from?: TypedMap) {
    if (from) for (const [key, value] of from.entries) this.entries.set(key, value);
  }

  get<T>(key: TypedKey<T>): T | undefined;
  get(key: string): unknown;
  get(key: TypedKey<unknown> | string): unknown {
    return this.entries.get(idOf(key));
  }

  set<T>(key: TypedKey<T>, value: T): this;
  set(key: string, value: unknown): this;
  set(key: TypedKey<unknown> | string, value: unknown): this {
    this.entries.set(idOf(key), value);
    return this;
  }

  has(key: TypedKey<unknown> | string): boolean {
    return this.entries.has(idOf(key));
  }

  delete(key: TypedKey<unknown> | string): boolean {
    return this.entries.delete(idOf(key));
  }
}

function idOf(key: TypedKey<unknown> | string): symbol | string {
  return typeof key === 'string' ? key : key.id;
}

/** Keys of the exchange attachments the built-in handlers share. */
export const Attachment = {
  /** Logger with correlationId / traceabilityId bound (correlation handler). */
  logger: typedKey<Logger>('light-kafka.logger'),
  /** The correlation id, traceability id and caller of the record, as the correlation handler resolved them. */
  identity: typedKey<Identity>('light-kafka.identity'),
  /** The claims of the record's verified token (security handler, consume). */
  claims: typedKey<RecordClaims>('light-kafka.claims'),
  /** The record's span (tracing handler). */
  span: typedKey<Span>('light-kafka.span'),
} as const;

/** Keys of the request context's values the built-in handlers share. */
export const ContextValue = {
  /** The active span of the unit of work: records produced and calls made in it are its children. */
  span: typedKey<Span>('light-kafka.span'),
} as const;

/** Keys of what built-in handlers publish in `services.shared` at start. */
export const Shared = {
  /** How often the security handler really verified a token, and how often its cache answered. */
  verificationStats: typedKey<VerificationStats>('light-kafka.verificationStats'),
  /** The header names the correlation handler reads and writes the ids under (correlation.yml may rename them). */
  identityHeaders: typedKey<IdentityHeaderNames>('light-kafka.identityHeaders'),
} as const;
