import { HeaderNames } from '../headers.js';
import { currentContext } from '../request-context.js';
import type { HttpInterceptors } from './http-interceptors.js';

export interface PropagatingFetchOptions {
  /** Written as caller_id on every call: this service's serviceId. */
  callerId?: string;
  /** The fetch to wrap; default the global fetch (undici). */
  fetch?: typeof fetch;
  /** Work around each call (the tracing handler's client span). */
  interceptors?: HttpInterceptors;
}

/**
 * A fetch that adds the current request context's headers (Authorization, X-Correlation-Id, X-Traceability-Id,
 * trace context) and caller_id to downstream HTTP calls. Headers the caller set explicitly win.
 */
export function createPropagatingFetch(options: PropagatingFetchOptions = {}): typeof fetch {
  const baseFetch = options.fetch ?? globalThis.fetch;
  return async function propagatingFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    // async: a bad URL rejects, as fetch's own errors do, instead of throwing at the call.
    const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
    const context = currentContext();
    if (context) {
      for (const [name, value] of context.headers) {
        if (!headers.has(name)) headers.set(name, value.toString('utf8'));
      }
    }
    if (options.callerId && !headers.has(HeaderNames.callerId)) headers.set(HeaderNames.callerId, options.callerId);
    const interceptors = options.interceptors;
    if (!interceptors) return baseFetch(input, { ...init, headers });
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = (init.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    return interceptors.call({ method, url, headers }, () => baseFetch(input, { ...init, headers }));
  };
}
