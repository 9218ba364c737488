import { AsyncLocalStorage } from 'node:async_hooks';
import type { RecordHeaders } from './headers.js';

/** The propagated identity of the current unit of work (an HTTP request or a consumed record). */
export interface RequestContext {
  /** The headers that travel on: Authorization, X-Correlation-Id, X-Traceability-Id, trace context, caller_id. */
  headers: RecordHeaders;
  /** Free-form values handlers leave for the rest of the unit of work. */
  values: Map<string, unknown>;
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
