/**
 * The HTTP side the bank's services share (accounts, samples/transfers): a JSON server whose requests run in a request
 * context (so what they produce carries the caller's JWT, correlation id and trace), bearer-token checks, and the
 * `Prefer: wait` round trip over a command reply channel.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { currentContext, HeaderNames, LightError, withRequestContext, type Command, type CommandReply, type CommandRequests, type LightService } from '../../index.js';

/** What a route answers: a status, a JSON body and any headers. */
/** What an instance of a sample service (accounts, transfers) is started with. */
export interface SampleInstanceOptions {
  /** Names the instance: its serviceId is `<service>-<instance>`. */
  instance: string;
  /** Port of the HTTP API (0: any free port). */
  httpPort?: number;
  /** host:port of the streams query endpoint (application.server): any instance answers for any key. */
  queryServer: string;
  /** The JWKS the tokens are verified with (by the HTTP API and by the security handler on every hop). */
  jwksUrl: string;
  stateDir: string;
  auditFile: string;
  otlpEndpoint: string;
  /** Trace to this SkyWalking OAP (host:grpcPort) instead of the OTLP endpoint. */
  skywalkingCollector?: string;
  brokers: string;
  /** The streams application.id (default: the service's). */
  applicationId?: string;
  configDir?: string;
}

/** The config values that select the tracer of a sample service (`prefix`: its config namespace, in upper case). */
export function tracingEnv(prefix: string, service: string, options: SampleInstanceOptions): Record<string, string> {
  if (!options.skywalkingCollector) return { [`${prefix}_OTLPENDPOINT`]: options.otlpEndpoint };
  return { [`${prefix}_TRACER`]: 'skywalking', [`${prefix}_TRACESERVICE`]: service, [`${prefix}_SKYWALKINGCOLLECTOR`]: options.skywalkingCollector };
}

export interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export type Jwks = ReturnType<typeof createRemoteJWKSet>;

/** The bank's token issuer, whose tokens every API and every Kafka hop (security.yml) verify. */
export const BANK_ISSUER = 'urn:bank:auth';

/**
 * Serves `route` on 127.0.0.1:`port` (0: any free port) until the service stops; resolves with the port. A LightError
 * is answered with its status object (a 4xx names what is wrong); anything else is a 500 ERR10010.
 */
export async function serveJson(
  service: LightService,
  port: number,
  name: string,
  route: (request: IncomingMessage) => Promise<Answer>,
  templateOf: (request: IncomingMessage) => string | undefined,
): Promise<number> {
  const server = createServer(
    withRequestContext(
      (request, response) => {
        route(request).then(
          ({ status, body, headers }) => response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body)),
          (error: unknown) => {
            const light = error instanceof LightError ? error : LightError.wrap(error, 'ERR10010', { handler: name });
            // A body over the limit was not read to its end: the connection cannot carry another request.
            const close = light.statusCode === 413 ? { connection: 'close' } : {};
            response.writeHead(light.statusCode, { 'content-type': 'application/json', ...close }).end(JSON.stringify(light.status));
          },
        );
      },
      // The route template names the request's span (and SkyWalking endpoint) without the ids in the path.
      { ...service.httpContext, route: templateOf },
    ),
  );
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  service.onStop(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

/** 401 unless the request carries a valid bearer token of the bank's issuer for `audience`. */
export async function verifyCaller(jwks: Jwks, request: IncomingMessage, audience: string, api: string): Promise<void> {
  const header = request.headers.authorization ?? '';
  const token = /^Bearer (.+)$/.exec(header)?.[1];
  if (!token) throw new LightError('ERR10002', { topic: api });
  try {
    await jwtVerify(token, jwks, { issuer: BANK_ISSUER, audience });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_JWT_EXPIRED') throw new LightError('ERR10001', { expiredAt: String((error as { payload?: { exp?: number } }).payload?.exp ?? '?') });
    throw new LightError('ERR10000', { reason: (error as Error).message });
  }
}

/** The request's correlation id; a request without one gets one here, so its command's metadata and records share it. */
export function ensureCorrelationId(): string | undefined {
  const context = currentContext();
  if (context && !context.headers.has(HeaderNames.correlationId)) context.headers.set(HeaderNames.correlationId, randomUUID());
  return context?.headers.getBuffer(HeaderNames.correlationId)?.toString('utf8');
}

/**
 * Sends `command` with this instance's reply channel and waits up to `seconds` for its outcome; undefined when the
 * wait ends first (ERR12016: the command may still be applied — the caller answers 202, and sending it again with
 * the same id learns its outcome).
 */
export async function replyWithin(requests: CommandRequests, topic: string, command: Command, seconds: number): Promise<CommandReply | undefined> {
  try {
    return await requests.request(topic, command, { timeoutMs: seconds * 1000 });
  } catch (error) {
    if (error instanceof LightError && error.code === 'ERR12016') return undefined;
    throw error;
  }
}

/**
 * The committed value of `key` in a store, from any instance (its own, or forwarded with this request's headers to the
 * owner); undefined when absent, and also while no instance owns the key's partition (ERR12014, a rebalance): an
 * Idempotency-Key look-up only saves a round trip, the processor (or saga) that gets the command decides anyway.
 */
export async function lookUp<V>(service: LightService, store: string, key: string): Promise<V | undefined> {
  try {
    return (await service.streams.query<V>(store, key)).value;
  } catch (error) {
    if (!(error instanceof LightError && error.code === 'ERR12014')) throw error;
    service.logger.warn('state not readable now (no owner of its partition); the command goes on and its processor decides', { store, key, error: error.message });
    return undefined;
  }
}

/** RFC 7240: the answer says that the server waited as asked (up to the seconds it honoured). */
export function preferenceApplied(answer: Answer, seconds: number): Answer {
  return { ...answer, headers: { ...answer.headers, 'preference-applied': `wait=${seconds}` } };
}
