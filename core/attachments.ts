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
  /**
   * Values under typed keys, as an object's symbol properties: a record's attachments are set and read once or
   * twice each, and an object costs less to make and to grow per record than a Map.
   */
  private readonly byKey: Record<symbol, unknown> = {};
  /** Values under plain string keys (a service's own code), in a Map: no name can meet Object.prototype. */
  private byName: Map<string, unknown> | undefined;

  constructor(from?: TypedMap) {
    if (!from) return;
    for (const id of Object.getOwnPropertySymbols(from.byKey)) this.byKey[id] = from.byKey[id];
    if (from.byName) this.byName = new Map(from.byName);
  }

  get<T>(key: TypedKey<T>): T | undefined;
  get(key: string): unknown;
  get(key: TypedKey<unknown> | string): unknown {
    // A key's symbol is its own (Symbol.for of its name): no prototype holds it.
    return typeof key === 'string' ? this.byName?.get(key) : this.byKey[key.id];
  }

  set<T>(key: TypedKey<T>, value: T): this;
  set(key: string, value: unknown): this;
  set(key: TypedKey<unknown> | string, value: unknown): this {
    if (typeof key === 'string') (this.byName ??= new Map()).set(key, value);
    else this.byKey[key.id] = value;
    return this;
  }

  has(key: TypedKey<unknown> | string): boolean {
    if (typeof key === 'string') return this.byName?.has(key) ?? false;
    return Object.hasOwn(this.byKey, key.id);
  }

  delete(key: TypedKey<unknown> | string): boolean {
    if (typeof key === 'string') return this.byName?.delete(key) ?? false;
    if (!Object.hasOwn(this.byKey, key.id)) return false;
    delete this.byKey[key.id];
    return true;
  }
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
