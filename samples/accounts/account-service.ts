/**
 * The event-sourced reference service: an HTTP command API (JWT-protected) -> bank.account-commands -> the account
 * aggregate (LightStreams, exactly once) -> bank.account-events (and bank.account-rejections) -> the projection
 * `account-view` -> an HTTP query API that answers from the view on any instance. Every Kafka hop runs the full
 * chain of config/handler.yml; the caller's JWT, correlation id and trace context travel on every hop.
 *
 *   POST /accounts/{id}/commands  {"type": "DepositMoney", "data": {"amount": 1000}, "expectedVersion": 1}  -> 202
 *        Idempotency-Key: "<key>"   the command id: a re-sent key gets the first outcome, nothing is produced again
 *        Prefer: wait=10            wait (up to 60 s) for the outcome: 201 / 200 accepted, 409 VERSION_CONFLICT,
 *                                   422 other rejections, or 202 when the wait ends first
 *   GET  /accounts/{id}                                                                                    -> 200 view
 *
 * Amounts are integers in cents (1 to MAX_AMOUNT of domain.ts). A request the API cannot take is refused before
 * anything is produced (requests.ts): 400 ERR11020 for a bad id (malformed percent-encoding, over
 * MAX_ACCOUNT_ID_BYTES), header (Idempotency-Key) or body (not a JSON object, unknown type, bad amount), 413 ERR11021
 * for a body over MAX_BODY_BYTES, 422 ERR11022 for an Idempotency-Key used before for another command on the account;
 * errors answer the LightError's status object.
 */
import type { IncomingMessage } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRemoteJWKSet } from 'jose';
import { command, LightService, type CommandRequests } from '../../index.js';
import { commandAnswer } from './answers.js';
import { accountCommandProcessor, accountProjection, type AccountTopics, type AccountView } from './domain.js';
import { ensureCorrelationId, preferenceApplied, replyWithin, serveJson, tracingEnv, verifyCaller, type Answer, type Jwks, type SampleInstanceOptions } from './http-api.js';
import { earlierOutcome } from './processed-commands.js';
import { idempotencyKeyOf, parseCommand, preferredWait, readBody, routeOf } from './requests.js';

export const ACCOUNT_TOPICS = { commands: 'bank.account-commands', events: 'bank.account-events', rejections: 'bank.account-rejections' };
/** Where the outcomes of the commands this API sends with `Prefer: wait` come back (config/json-schema.yml checks them). */
export const ACCOUNT_REPLY_TOPIC = 'bank.account-replies';
export const ACCOUNTS_CONFIG_DIR = join(dirname(fileURLToPath(import.meta.url)), 'config');
/** The audience of the accounts API's tokens (and of every Kafka hop of the accounts service: config/security.yml). */
export const ACCOUNTS_AUDIENCE = 'urn:bank:accounts';

export interface AccountServiceOptions extends SampleInstanceOptions {
  /** The command, event and rejection topics (default ACCOUNT_TOPICS; the sample's schemas are configured for those). */
  topics?: AccountTopics;
  /** The reply topic of this API's `Prefer: wait` requests (default ACCOUNT_REPLY_TOPIC). */
  replyTopic?: string;
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
    ...tracingEnv('ACCOUNTS', 'accounts', options),
    ACCOUNTS_APPLICATIONID: options.applicationId ?? 'bank',
  };
  const service = await LightService.create({ configDir: options.configDir ?? ACCOUNTS_CONFIG_DIR, env });
  const builder = service.streams.builder();
  const topics = options.topics ?? ACCOUNT_TOPICS;
  accountCommandProcessor(builder, topics);
  accountProjection(builder, topics.events);
  // Commands sent with `Prefer: wait` name this instance's reply channel; their outcomes come back on it.
  const requests = service.commandRequests({ replyTopic: options.replyTopic ?? ACCOUNT_REPLY_TOPIC });
  await service.start();
  const api: AccountApi = { service, topics, requests, jwks: createRemoteJWKSet(new URL(options.jwksUrl)) };
  const port = await serveJson(service, options.httpPort ?? 0, 'account-service', (request) => route(api, request), accountRouteTemplate);
  return { service, port, stop: () => service.stop() };
}

interface AccountApi {
  service: LightService;
  topics: AccountTopics;
  requests: CommandRequests;
  jwks: Jwks;
}

/** The route template of a request (its span's name); none for a path the API does not serve or cannot read. */
function accountRouteTemplate(request: IncomingMessage): string | undefined {
  try {
    const { kind } = routeOf(request.method, request.url);
    return kind === 'command' ? '/accounts/{id}/commands' : kind === 'view' ? '/accounts/{id}' : undefined;
  } catch {
    return undefined;
  }
}

async function route(api: AccountApi, request: IncomingMessage): Promise<Answer> {
  // A bad path, header, body or amount is a 4xx with its code (requests.ts), decided before anything is produced.
  const target = routeOf(request.method, request.url);
  if (target.kind === 'command') return acceptCommand(api, target.accountId, request);
  if (target.kind === 'view') {
    await verifyCaller(api.jwks, request, ACCOUNTS_AUDIENCE, 'the accounts API');
    const { service } = api;
    // Any instance answers: from its own store, or forwarded (with this request's headers) to the owner.
    const result = await service.streams.query<AccountView>('account-view', target.accountId);
    return result.value ? { status: 200, body: { ...result.value, answeredBy: result.answeredBy } } : { status: 404, body: { error: 'no such account' } };
  }
  return { status: 404, body: { error: 'POST /accounts/{id}/commands or GET /accounts/{id}' } };
}

async function acceptCommand(api: AccountApi, accountId: string, request: IncomingMessage): Promise<Answer> {
  const { service, topics } = api;
  await verifyCaller(api.jwks, request, ACCOUNTS_AUDIENCE, 'the accounts API');
  const idempotencyKey = idempotencyKeyOf(request.headersDistinct);
  const waitSeconds = preferredWait(request.headersDistinct);
  const body = parseCommand(await readBody(request));
  const correlationId = ensureCorrelationId();
  // The envelope's metadata comes from this request's context (correlation id, traceability id, caller); its id is
  // the Idempotency-Key, when the request has one.
  const accountCommand = command(body.type, { type: 'Account', id: accountId }, body.data, {
    ...(idempotencyKey !== undefined ? { id: idempotencyKey } : {}),
    ...(body.expectedVersion !== undefined ? { expectedVersion: body.expectedVersion } : {}),
  });
  if (idempotencyKey !== undefined) {
    // Processed before: its first outcome at once (or 422 ERR11022 for another command under that key), nothing produced.
    const earlier = await earlierOutcome(service, accountCommand);
    if (earlier) return commandAnswer(accountCommand, earlier, correlationId);
  }
  if (waitSeconds === undefined) {
    await service.producer.send(topics.commands, { key: accountId, value: accountCommand });
    return { status: 202, body: { commandId: accountCommand.id, correlationId } };
  }
  const reply = await replyWithin(api.requests, topics.commands, accountCommand, waitSeconds);
  return preferenceApplied(reply ? commandAnswer(accountCommand, reply.data, correlationId) : { status: 202, body: { commandId: accountCommand.id, correlationId } }, waitSeconds);
}
