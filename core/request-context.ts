import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingHttpHeaders } from 'node:http';
import { TypedMap } from './attachments.js';
import { PROPAGATED_HEADERS, RecordHeaders } from './headers.js';

/** The propagated identity of the current unit of work (an HTTP request or a consumed record). */
export interface RequestContext {
  /** The headers that travel on: Authorization, X-Scope-Token, X-Correlation-Id, X-Traceability-Id, trace context, extras. */
  headers: RecordHeaders;
  /** Values handlers leave for the rest of the unit of work (e.g. the active span), under typed keys. */
  values: TypedMap;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** Runs `work` with `context` as the current request context (for everything it awaits, too). */
export function runWithContext<T>(context: RequestContext, work: () => T): T {
  return storage.run(context, work);
}

/** The current request context, or undefined outside any unit of work. */
export function currentContext(): RequestContext | undefined {
  return storage.getStore();
}

/**
 * A context holding the propagated headers found in a record's headers. `names`: the service's propagated
 * headers (LightService.propagatedHeaders); default the built-in list.
 */
export function contextFromRecord(headers: RecordHeaders, names: readonly string[] = PROPAGATED_HEADERS, values = new TypedMap()): RequestContext {
  return { headers: headers.pick(names), values };
}

/**
 * The request context of a consumed record: the propagated headers found in the record's headers, copied only
 * when something reads them (a chain that never asks costs one small object per record).
 */
export class RecordContext implements RequestContext {
  private copied: RecordHeaders | undefined;
  private valueMap: TypedMap | undefined;

  constructor(
    private readonly source: RecordHeaders,
    private readonly names: readonly string[] = PROPAGATED_HEADERS,
  ) {}

  get headers(): RecordHeaders {
    return (this.copied ??= contextFromRecord(this.source, this.names).headers);
  }

  get values(): TypedMap {
    return (this.valueMap ??= new TypedMap());
  }

  /** Whether `headers` has `name`, answered from the record's headers while they were not copied (no copy made). */
  hasHeader(name: string): boolean {
    if (this.copied !== undefined) return this.copied.has(name);
    return propagates(this.names, name) && this.source.has(name);
  }
}

/** Whether the context's headers have `name`, without copying a record context's headers to find out. */
export function contextHasHeader(context: RequestContext, name: string): boolean {
  return context instanceof RecordContext ? context.hasHeader(name) : context.headers.has(name);
}

function propagates(names: readonly string[], name: string): boolean {
  if (names.includes(name)) return true;
  const lower = name.toLowerCase();
  return names.some((candidate) => candidate.toLowerCase() === lower);
}

/** A context holding the propagated headers of an incoming HTTP request (node lower-cases their names). */
export function contextFromHttp(headers: IncomingHttpHeaders, names: readonly string[] = PROPAGATED_HEADERS): RequestContext {
  const propagated = new RecordHeaders();
  for (const name of names) {
    const value = headers[name.toLowerCase()];
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) propagated.set(name, first);
  }
  return { headers: propagated, values: new TypedMap() };
}
