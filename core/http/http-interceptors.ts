import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Runs as a request served through the service's HTTP context begins, inside its request context (so it may set
 * context values and headers, e.g. the active span); it watches `response` for the end of the request. `route`:
 * the request's route template when the adapter was given one (`/accounts/{id}`).
 */
export type HttpServerInterceptor = (request: IncomingMessage, response: ServerResponse, route: string | undefined) => void;

/** A call made with service.fetch, as interceptors see it: `headers` are the ones about to be sent (writable). */
export interface HttpCall {
  method: string;
  url: URL;
  headers: Headers;
}

/** Work around each call made with service.fetch (the tracing handler opens a client span). */
export type HttpClientInterceptor = (call: HttpCall, send: () => Promise<Response>) => Promise<Response>;

/**
 * What handlers add to the service's HTTP hops at start: server interceptors run by the HTTP server adapters given
 * `service.httpContext`, client interceptors run by `service.fetch`. Filled while the service is created.
 */
export class HttpInterceptors {
  private readonly serverInterceptors: HttpServerInterceptor[] = [];
  private readonly clientInterceptors: HttpClientInterceptor[] = [];
  /** The client interceptors composed into one, on the first call; none may be added after it. */
  private composed: HttpClientInterceptor | undefined;

  addServer(interceptor: HttpServerInterceptor): void {
    this.serverInterceptors.push(interceptor);
  }

  addClient(interceptor: HttpClientInterceptor): void {
    if (this.composed) throw new Error('HttpInterceptors.addClient: calls were made already; add interceptors in a handler factory');
    this.clientInterceptors.push(interceptor);
  }

  /** Called inside the request's context, before the application's listener. */
  serve(request: IncomingMessage, response: ServerResponse, route?: string): void {
    for (const interceptor of this.serverInterceptors) interceptor(request, response, route);
  }

  /** Sends through every client interceptor, the first added outermost. */
  call(call: HttpCall, send: () => Promise<Response>): Promise<Response> {
    this.composed ??= this.clientInterceptors.reduceRight<HttpClientInterceptor>(
      (inner, interceptor) => (current, last) => interceptor(current, () => inner(current, last)),
      (_current, last) => last(),
    );
    return this.composed(call, send);
  }
}
