/**
 * What the transfers HTTP API answers: how a transfer ended (from the saga's reply, or from the saga instance for a
 * re-sent Idempotency-Key — the same status and body either way), and a transfer as GET /transfers/{id} shows it.
 */
import { compensatedReason, type CommandReply, type SagaInstance } from '../../index.js';
import type { Answer } from '../accounts/http-api.js';
import type { Transfer } from './transfer-saga.js';

/** How a transfer ended: every step applied, or the applied ones undone (and why). */
export type TransferEnd = { status: 'COMPLETED' } | { status: 'COMPENSATED'; code: string; reason: string };

/** The saga's answer to a start: accepted when COMPLETED, rejected (SAGA_COMPENSATED, with the failure) otherwise. */
export function endOfReply(reply: CommandReply): TransferEnd {
  const outcome = reply.data;
  return outcome.status === 'accepted' ? { status: 'COMPLETED' } : { status: 'COMPENSATED', code: outcome.code, reason: outcome.reason };
}

/** How a saga instance ended; undefined while it runs. The reason is the one the saga's reply gives (compensatedReason). */
export function endOfSaga(saga: SagaInstance<Transfer>): TransferEnd | undefined {
  if (saga.status === 'COMPLETED') return { status: 'COMPLETED' };
  if (saga.status !== 'COMPENSATED') return undefined;
  return { status: 'COMPENSATED', code: 'SAGA_COMPENSATED', reason: compensatedReason(saga) };
}

/** 200 for a completed transfer, 422 for a compensated one (the business refused it: the reason says which step). */
export function transferAnswer(transferId: string, end: TransferEnd, correlationId?: string): Answer {
  const ids = { transferId, ...(correlationId !== undefined ? { correlationId } : {}) };
  return { status: end.status === 'COMPLETED' ? 200 : 422, body: { ...ids, ...end } };
}

/** 202: the transfer is under way (or its outcome did not come within the wait); GET its Location to follow it. */
export function transferAccepted(transferId: string, correlationId?: string): Answer {
  return { status: 202, body: { transferId, ...(correlationId !== undefined ? { correlationId } : {}) }, headers: { location: `/transfers/${encodeURIComponent(transferId)}` } };
}

/**
 * A transfer as the API shows it: status, the steps' history and the failure. Never the instance's saved request
 * context: it holds the caller's token (Authorization), which the saga's later commands go out under.
 */
export function transferView(saga: SagaInstance<Transfer>): Record<string, unknown> {
  return {
    transferId: saga.id,
    status: saga.status,
    from: saga.data.from,
    to: saga.data.to,
    amount: saga.data.amount,
    ...(saga.failure ? { failure: saga.failure } : {}),
    stuck: saga.stuck,
    history: saga.history,
    startedAt: saga.startedAt,
    updatedAt: saga.updatedAt,
    ...(saga.endedAt ? { endedAt: saga.endedAt } : {}),
  };
}
