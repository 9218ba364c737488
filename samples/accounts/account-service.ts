/**
 * The event-sourced reference service: an HTTP command API (JWT-protected) -> bank.account-commands -> the account
 * aggregate (LightStreams, exactly once) -> bank.account-events (and bank.account-rejections) -> the projection
 * `account-view` -> an HTTP query API that answers from the view on any instance. Every Kafka hop runs the full
 * chain of config/handler.yml; the caller's JWT, correlation id and trace context travel on every hop.
 *
 *   POST /accounts/{id}/commands  {"type": "DepositMoney", "data": {"amount": 1000}, "expectedVersion": 1}  -> 202
 *   GET  /accounts/{id}                                                                                    -> 200 view
 *
 * Amounts are integers in cents (1 to MAX_AMOUNT of domain.ts). A request the API cannot take is refused before
 * anything is produced (requests.ts): 400 ERR11020 for a bad id (malformed percent-encoding, over
 * MAX_ACCOUNT_ID_BYTES) or body (not a JSON object, unknown type, bad amount), 413 ERR11021 for a body over
 * MAX_BODY_BYTES; errors answer the LightError's status object.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { command, HeaderNames, LightError, LightService, currentContext, withRequestContext } from '../../index.js';
import { accountCommandProcessor, accountProjection, type AccountTopics, type AccountView } from './domain.js';
import { parseCommand, readBody, routeOf } from './requests.js';

export const ACCOUNT_TOPICS = { commands: 'bank.account-commands', events: 'bank.account-events', rejections: 'bank.account-rejections' };
export const ACCOUNTS_CONFIG_DIR = join(dirname(fileURLToPath(import.meta.url)), 'config');

export interface AccountServiceOptions {
  /** Names the instance: its serviceId is `accounts-<instance>`. */
  instance: string;
  /** Port of the HTTP command and query API (0: any free port). */
  httpPort?: number;
  /** host:port of the streams query endpoint (application.server). */
  queryServer: string;
  /** The JWKS the tokens are verified with (by the HTTP API and by the security handler on every hop). */
  jwksUrl: string;
  stateDir: string;
  auditFile: string;
  otlpEndpoint: string;
  brokers: string;
  /** The streams application.id (default bank). */
  applicationId?: string;
  /** The command, event and rejection topics (default ACCOUNT_TOPICS; the sample's schemas are configured for those). */
  topics?: AccountTopics;
  configDir?: string;
}

export interface AccountService {
  service: LightService;
  port: number;
  stop(): Promise<void>;
}

export async function startAccountService(options: AccountServiceOptions): Promise<AccountService> {
  const env = {
    ...process.env,
    KAFKA_BROKERS: options.brokers,
    ACCOUNTS_SERVICEID: `accounts-${options.instance}`,
    ACCOUNTS_QUERYSERVER: options.queryServer,
    ACCOUNTS_JWKSURL: options.jwksUrl,
    ACCOUNTS_STATEDIR: options.stateDir,
    ACCOUNTS_AUDITFILE: options.auditFile,
    ACCOUNTS_OTLPENDPOINT: options.otlpEndpoint,
    ACCOUNTS_APPLICATIONID: options.applicationId ?? 'bank',
  };
  const service = await LightService.create({ configDir: options.configDir ?? ACCOUNTS_CONFIG_DIR, env });
  const builder = service.streams.builder();
  const topics = options.topics ?? ACCOUNT_TOPICS;
  accountCommandProcessor(builder, topics);
  accountProjection(builder, topics.events);
  await service.start();

  const jwks = createRemoteJWKSet(new URL(options.jwksUrl));
  const server: Server = createServer(
    withRequestContext(
      (request, response) => {
        route(service, topics, jwks, request).then(
          ({ status, body }) => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)),
          (error: unknown) => {
            const light = error instanceof LightError ? error : LightError.wrap(error, 'ERR10010', { handler: 'account-service' });
            // A body over the limit was not read to its end: the connection cannot carry another request.
            const close = light.statusCode === 413 ? { connection: 'close' } : {};
            response.writeHead(light.statusCode, { 'content-type': 'application/json', ...close }).end(JSON.stringify(light.status));
          },
        );
      },
      { headers: service.propagatedHeaders },
    ),
  );
  server.listen(options.httpPort ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  service.onStop(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { service, port, stop: () => service.stop() };
}

type Jwks = ReturnType<typeof createRemoteJWKSet>;

async function route(service: LightService, topics: AccountTopics, jwks: Jwks, request: IncomingMessage): Promise<{ status: number; body: unknown }> {
  // A bad path, body or amount is a 4xx with its code (requests.ts), decided before anything is produced.
  const target = routeOf(request.method, request.url);
  if (target.kind === 'command') return acceptCommand(service, topics, jwks, target.accountId, request);
  if (target.kind === 'view') {
    await verifyCaller(jwks, request);
    // Any instance answers: from its own store, or forwarded (with this request's headers) to the owner.
    const result = await service.streams.query<AccountView>('account-view', target.accountId);
    return result.value ? { status: 200, body: { ...result.value, answeredBy: result.answeredBy } } : { status: 404, body: { error: 'no such account' } };
  }
  return { status: 404, body: { error: 'POST /accounts/{id}/commands or GET /accounts/{id}' } };
}

/** 401 unless the request carries a valid bearer token of the bank's issuer, for this API. */
async function verifyCaller(jwks: Jwks, request: IncomingMessage): Promise<void> {
  const header = request.headers.authorization ?? '';
  const token = /^Bearer (.+)$/.exec(header)?.[1];
  if (!token) throw new LightError('ERR10002', { topic: 'the accounts API' });
  try {
    await jwtVerify(token, jwks, { issuer: 'urn:bank:auth', audience: 'urn:bank:accounts' });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_JWT_EXPIRED') throw new LightError('ERR10001', { expiredAt: String((error as { payload?: { exp?: number } }).payload?.exp ?? '?') });
    throw new LightError('ERR10000', { reason: (error as Error).message });
  }
}

async function acceptCommand(service: LightService, topics: AccountTopics, jwks: Jwks, accountId: string, request: IncomingMessage): Promise<{ status: number; body: unknown }> {
  await verifyCaller(jwks, request);
  const body = parseCommand(await readBody(request));
  // A request without a correlation id gets one here, so the command's metadata and its records share it.
  const context = currentContext();
  if (context && !context.headers.has(HeaderNames.correlationId)) context.headers.set(HeaderNames.correlationId, randomUUID());
  // The envelope's metadata comes from this request's context (correlation id, traceability id, caller).
  const accountCommand = command(body.type, { type: 'Account', id: accountId }, body.data, {
    ...(body.expectedVersion !== undefined ? { expectedVersion: body.expectedVersion } : {}),
  });
  await service.producer.send(topics.commands, { key: accountId, value: accountCommand });
  const correlationId = currentContext()?.headers.getBuffer(HeaderNames.correlationId)?.toString('utf8');
  return { status: 202, body: { commandId: accountCommand.id, correlationId } };
}
