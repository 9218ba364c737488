import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { contextFromHttp, runWithContext } from '../request-context.js';

/**
 * Server adapters: each runs the rest of the request's handling inside a request context filled from the
 * incoming headers, so records produced and HTTP calls made while handling it carry those headers on.
 * `options.headers`: the names to take from the request — pass `service.propagatedHeaders` so the extra names
 * of service.yml and renamed correlation headers are carried too; default the built-in list.
 */
export interface RequestContextOptions {
  headers?: readonly string[];
}

/** node:http: `createServer(withRequestContext((req, res) => ...))`. */
export function withRequestContext(listener: RequestListener, options: RequestContextOptions = {}): RequestListener {
  return function lightRequestContext(req: IncomingMessage, res: ServerResponse): void {
    runWithContext(contextFromHttp(req.headers, options.headers), () => listener(req, res));
  };
}

/** Express (4 or 5): `app.use(expressRequestContext())` before the routes. */
export function expressRequestContext(options: RequestContextOptions = {}): (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void {
  return function lightRequestContext(req, _res, next): void {
    runWithContext(contextFromHttp(req.headers, options.headers), () => next());
  };
}

interface FastifyLike {
  addHook(name: 'onRequest', hook: (request: { raw: IncomingMessage }, reply: unknown, done: () => void) => void): unknown;
}

/**
 * Fastify: `fastifyRequestContext(app)` (or `app.register` of a plugin that calls it, wrapped with fastify-plugin
 * so it applies to every route). The rest of the request's lifecycle runs from inside `done`, hence inside the context.
 */
export function fastifyRequestContext(app: FastifyLike, options: RequestContextOptions = {}): void {
  app.addHook('onRequest', function lightRequestContext(request, _reply, done) {
    runWithContext(contextFromHttp(request.raw.headers, options.headers), () => done());
  });
}
