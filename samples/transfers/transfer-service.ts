/**
 * The transfers service: money moved between accounts of the accounts service by the transfer saga (transfer-saga.ts),
 * a LightStreams application of its own. An HTTP API (JWT-protected) starts transfers and shows them:
 *
 *   POST /transfers  {"from": "acc-1", "to": "acc-2", "amount": 2500}  -> 202 (Location: /transfers/{id})
 *        Idempotency-Key: "<key>"   the transfer id: a re-sent key starts nothing again and gets how it ended
 *        Prefer: wait=10            wait (up to 60 s) for the end: 200 COMPLETED, 422 COMPENSATED with the
 *                                   reason, or 202 when the wait ends first
 *   GET  /transfers/{id}   -> 200 the saga instance (status, history of its steps, failure) from any instance
 *
 * Hops: POST -> bank.transfers (StartTransfer, keyed by transfer id) -> the saga -> bank.account-commands
 * (WithdrawMoney, then DepositMoney, each with the reply channel bank.transfer-replies) -> the accounts service ->
 * bank.transfer-replies -> the saga -> ... -> its answer on bank.transfer-outcomes (this API's reply channel). The
 * saga's commands go out under the start's request context, so every hop runs the full chain (config/handler.yml)
 * with the caller's JWT, correlation id, traceability id and trace context.
 */
import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRemoteJWKSet } from 'jose';
import { command, defineSaga, LightError, LightService, type CommandRequests, type SagaInstance } from '../../index.js';
import { ACCOUNT_TOPICS } from '../accounts/account-service.js';
import { ensureCorrelationId, lookUp, preferenceApplied, replyWithin, serveJson, tracingEnv, verifyCaller, type Answer, type Jwks, type SampleInstanceOptions } from '../accounts/http-api.js';
import { idempotencyKeyOf, preferredWait, readBody } from '../accounts/requests.js';
import { endOfReply, endOfSaga, transferAccepted, transferAnswer, transferView } from './answers.js';
import { parseTransfer, transferRouteOf } from './requests.js';
import { TRANSFER_SAGA, transferSaga, type Transfer } from './transfer-saga.js';

export interface TransferServiceTopics {
  /** StartTransfer commands, keyed by transfer id. */
  transfers: string;
  /** The accounts service's replies to the saga's commands, keyed by transfer id (as many partitions as `transfers`). */
  replies: string;
  /** Where the saga answers the starts this API sends with `Prefer: wait` (this API's reply channel). */
  outcomes: string;
  /** The accounts service's command topic. */
  accountCommands: string;
}

/**
 * The saga's replies and this API's outcomes are two topics: every instance reads the whole reply topic of its
 * requests (CommandRequests), which need not carry the saga's traffic.
 */
export const TRANSFER_TOPICS: TransferServiceTopics = { transfers: 'bank.transfers', replies: 'bank.transfer-replies', outcomes: 'bank.transfer-outcomes', accountCommands: ACCOUNT_TOPICS.commands };
export const TRANSFERS_CONFIG_DIR = join(dirname(fileURLToPath(import.meta.url)), 'config');
/**
 * The audience of the transfers API's tokens and of this service's Kafka hops (config/security.yml). A caller's token
 * names the accounts audience too: the saga's commands to the accounts service go out under it.
 */
export const TRANSFERS_AUDIENCE = 'urn:bank:transfers';

export interface TransferServiceOptions extends SampleInstanceOptions {
  /** Default TRANSFER_TOPICS (the sample's schemas are configured for those). */
  topics?: TransferServiceTopics;
  /** How long a step waits for the accounts service's reply before the transfer is compensated (default 30 s). */
  stepTimeoutMs?: number;
}

export interface TransferService {
  service: LightService;
  port: number;
  stop(): Promise<void>;
}

export async function startTransferService(options: TransferServiceOptions): Promise<TransferService> {
  const env = {
    ...process.env,
    KAFKA_BROKERS: options.brokers,
    TRANSFERS_SERVICEID: `transfers-${options.instance}`,
    TRANSFERS_QUERYSERVER: options.queryServer,
    TRANSFERS_JWKSURL: options.jwksUrl,
    TRANSFERS_STATEDIR: options.stateDir,
    TRANSFERS_AUDITFILE: options.auditFile,
    ...tracingEnv('TRANSFERS', 'transfers', options),
    TRANSFERS_APPLICATIONID: options.applicationId ?? 'transfers',
  };
  const service = await LightService.create({ configDir: options.configDir ?? TRANSFERS_CONFIG_DIR, env });
  const topics = options.topics ?? TRANSFER_TOPICS;
  const saga = transferSaga({ transfers: topics.transfers, replies: topics.replies, debit: topics.accountCommands }, options.stepTimeoutMs !== undefined ? { timeoutMs: options.stepTimeoutMs } : {});
  defineSaga(service.streams.builder(), saga);
  // Starts sent with `Prefer: wait` name this instance's reply channel: the saga answers there when the transfer ends.
  const requests = service.commandRequests({ replyTopic: topics.outcomes });
  await service.start();
  const api: TransferApi = { service, topics, requests, jwks: createRemoteJWKSet(new URL(options.jwksUrl)) };
  const port = await serveJson(service, options.httpPort ?? 0, 'transfer-service', (request) => route(api, request), transferRouteTemplate);
  return { service, port, stop: () => service.stop() };
}

interface TransferApi {
  service: LightService;
  topics: TransferServiceTopics;
  requests: CommandRequests;
  jwks: Jwks;
}

/** The route template of a request (its span's name); none for a path the API does not serve or cannot read. */
function transferRouteTemplate(request: IncomingMessage): string | undefined {
  try {
    const { kind } = transferRouteOf(request.method, request.url);
    return kind === 'start' ? '/transfers' : kind === 'transfer' ? '/transfers/{id}' : undefined;
  } catch {
    return undefined;
  }
}

async function route(api: TransferApi, request: IncomingMessage): Promise<Answer> {
  const target = transferRouteOf(request.method, request.url);
  if (target.kind === 'start') return startTransfer(api, request);
  if (target.kind === 'transfer') {
    await verifyCaller(api.jwks, request, TRANSFERS_AUDIENCE, 'the transfers API');
    // Any instance answers: from its own saga store, or forwarded (with this request's headers) to the owner.
    const result = await api.service.streams.query<SagaInstance<Transfer>>(TRANSFER_SAGA, target.transferId);
    return result.value ? { status: 200, body: { ...transferView(result.value), answeredBy: result.answeredBy } } : { status: 404, body: { error: 'no such transfer' } };
  }
  return { status: 404, body: { error: 'POST /transfers or GET /transfers/{id}' } };
}

async function startTransfer(api: TransferApi, request: IncomingMessage): Promise<Answer> {
  const { service, topics } = api;
  await verifyCaller(api.jwks, request, TRANSFERS_AUDIENCE, 'the transfers API');
  const idempotencyKey = idempotencyKeyOf(request.headersDistinct);
  const waitSeconds = preferredWait(request.headersDistinct);
  const transfer = parseTransfer(await readBody(request));
  const correlationId = ensureCorrelationId();
  // The Idempotency-Key is the transfer id: one key, one saga instance (and its commands' ids derive from it).
  const transferId = idempotencyKey ?? randomUUID();
  if (idempotencyKey !== undefined) {
    const earlier = await lookUp<SagaInstance<Transfer>>(service, TRANSFER_SAGA, transferId);
    // The saga would take a start with other data as a re-send of the first: refused here instead.
    if (earlier && !sameTransfer(earlier.data, transfer)) throw new LightError('ERR11022', { key: transferId, aggregate: `transfer ${transferId}` });
    const ended = earlier && endOfSaga(earlier);
    if (ended) return transferAnswer(transferId, ended, correlationId);
  }
  // The start's id is the transfer id too: a re-sent start is the same command, and the saga answers under that id.
  const start = command('StartTransfer', { type: 'Transfer', id: transferId }, transfer, { id: transferId });
  if (waitSeconds === undefined) {
    await service.producer.send(topics.transfers, { key: transferId, value: start });
    return transferAccepted(transferId, correlationId);
  }
  const reply = await replyWithin(api.requests, topics.transfers, start, waitSeconds);
  return preferenceApplied(reply ? transferAnswer(transferId, endOfReply(reply), correlationId) : transferAccepted(transferId, correlationId), waitSeconds);
}

function sameTransfer(a: Transfer, b: Transfer): boolean {
  return a.from === b.from && a.to === b.to && a.amount === b.amount;
}
