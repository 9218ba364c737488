import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { contextFromHttp, runWithContext } from '../request-context.js';
import type { HttpInterceptors } from './http-interceptors.js';

/**
 * Server adapters: each runs the rest of the request's handling inside a request context filled from the
 * incoming headers, so records produced and HTTP calls made while handling it carry those headers on.
 * Pass `service.httpContext` as the options: the names to take from the request (`headers`: the built-in list,
 * service.yml's extra names, renamed correlation headers) and the handlers' server interceptors (the tracing
 * handler's server span). `{ headers: service.propagatedHeaders }` carries the headers without interceptors;
 * no options: the built-in list.
 */
export interface RequestContextOptions {
  headers?: readonly string[];
  interceptors?: HttpInterceptors;
  /**
   * The route template of a request (`/accounts/{id}`), for the name of its server span and SkyWalking endpoint:
   * `{ ...service.httpContext, route: (request) => ... }`. Without it the span is named after the method only.
   */
  route?: (request: IncomingMessage) => string | undefined;
}

/** Runs `next` in the request's context, after the interceptors saw the request. */
function serveInContext(req: IncomingMessage, res: ServerResponse, options: RequestContextOptions, next: () => void): void {
  runWithContext(contextFromHttp(req.headers, options.headers), () => {
    options.interceptors?.serve(req, res, options.route?.(req));
    next();
  });
}

/** node:http: `createServer(withRequestContext((req, res) => ...))`. */
export function withRequestContext(listener: RequestListener, options: RequestContextOptions = {}): RequestListener {
  return function lightRequestContext(req: IncomingMessage, res: ServerResponse): void {
    serveInContext(req, res, options, () => listener(req, res));
  };
}

/** Express (4 or 5): `app.use(expressRequestContext())` before the routes. */
export function expressRequestContext(options: RequestContextOptions = {}): (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void {
  return function lightRequestContext(req, res, next): void {
    serveInContext(req, res, options, () => next());
  };
}

interface FastifyLike {
  addHook(name: 'onRequest', hook: (request: { raw: IncomingMessage }, reply: { raw: ServerResponse }, done: () => void) => void): unknown;
}

/**
 * Fastify: `fastifyRequestContext(app)` (or `app.register` of a plugin that calls it, wrapped with fastify-plugin
 * so it applies to every route). The rest of the request's lifecycle runs from inside `done`, hence inside the context.
 */
export function fastifyRequestContext(app: FastifyLike, options: RequestContextOptions = {}): void {
  app.addHook('onRequest', function lightRequestContext(request, reply, done) {
    serveInContext(request.raw, reply.raw, options, () => done());
  });
}
