import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { LightError } from '../errors/light-error.js';
import { withRequestContext } from '../http/server-context.js';
import type { Logger } from '../logger.js';

/** The answer to a key query, wherever it was answered. */
export interface KeyQueryResult<V = unknown> {
  store: string;
  key: string;
  /** undefined (absent from the JSON) when the store has no entry for the key. */
  value?: V;
  partition: number;
  /** The application.server of the instance that read its store (this one, or the owner it was forwarded to). */
  answeredBy: string;
}

/** Marks a query forwarded by another instance: the owner answers it itself and never forwards it again. */
export const FORWARDED_HEADER = 'x-light-streams-forwarded';

/** The path of a key query: GET /streams/stores/{store}/keys/{key}. */
export function keyQueryPath(store: string, key: string): string {
  return `/streams/stores/${encodeURIComponent(store)}/keys/${encodeURIComponent(key)}`;
}

const KEY_QUERY = /^\/streams\/stores\/([^/]+)\/keys\/([^/]+)$/;

/**
 * The HTTP endpoint of interactive queries, on application.server: GET /streams/stores/{store}/keys/{key} answers
 * for any key, from this instance's store or from the owner's (forwarded with the request's propagated headers).
 * 200 with a KeyQueryResult (no `value` when the key is absent), 404 for an unknown store, 503 while the owner
 * is not known or not ready (the caller may try again).
 */
export class QueryServer {
  private server: Server | undefined;

  constructor(
    private readonly endpoint: string,
    private readonly answer: (store: string, key: string, forwarded: boolean) => Promise<KeyQueryResult>,
    private readonly propagatedHeaders: readonly string[],
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const [host, port] = splitEndpoint(this.endpoint);
    const server = createServer(withRequestContext((req, res) => void this.handle(req, res), { headers: this.propagatedHeaders }));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    this.logger.info('streams query endpoint listening', { url: `http://${this.endpoint}/streams/stores/{store}/keys/{key}` });
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const match = req.method === 'GET' ? KEY_QUERY.exec(new URL(req.url ?? '/', 'http://localhost').pathname) : null;
    if (!match) return send(res, 404, { error: 'GET /streams/stores/{store}/keys/{key}' });
    try {
      const result = await this.answer(decodeURIComponent(match[1]!), decodeURIComponent(match[2]!), req.headers[FORWARDED_HEADER] !== undefined);
      send(res, 200, result);
    } catch (error) {
      const light = error instanceof LightError ? error : undefined;
      send(res, light?.statusCode ?? 500, { error: light?.code ?? 'ERR10010', message: (error as Error).message });
    }
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

export function splitEndpoint(endpoint: string): [string, number] {
  const at = endpoint.lastIndexOf(':');
  return [endpoint.slice(0, at), Number(endpoint.slice(at + 1))];
}
