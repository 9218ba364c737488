/**
 * What the accounts HTTP API answers for a command whose outcome it knows (from its reply, or from the aggregate's
 * processed-command record for a re-sent Idempotency-Key): the same status and body either way, so a retried request
 * gets the answer of the first (IETF idempotency-key draft).
 */
import { KEY_REUSED, LightError, type Command, type CommandOutcome } from '../../index.js';
import type { Answer } from './http-api.js';

/**
 * accepted: 201 for OpenAccount (with the account's Location), 200 otherwise, `{ commandId, version, events }`;
 * rejected: 409 for VERSION_CONFLICT (the client re-reads and decides again), 422 ERR11022 for an id used before for
 * another command, 422 for the domain's other refusals `{ commandId, code, reason, version }`.
 */
export function commandAnswer(command: Pick<Command, 'id' | 'type' | 'aggregateId'>, outcome: CommandOutcome, correlationId?: string): Answer {
  const ids = { commandId: command.id, ...(correlationId !== undefined ? { correlationId } : {}) };
  if (outcome.status === 'accepted') {
    const body = { ...ids, status: outcome.status, version: outcome.version, events: outcome.events };
    if (command.type !== 'OpenAccount') return { status: 200, body };
    return { status: 201, body, headers: { location: `/accounts/${encodeURIComponent(command.aggregateId)}` } };
  }
  if (outcome.code === KEY_REUSED) {
    const reused = new LightError('ERR11022', { key: command.id, aggregate: `account ${command.aggregateId}` });
    return { status: reused.statusCode, body: reused.status };
  }
  const body = { ...ids, status: outcome.status, code: outcome.code, reason: outcome.reason, version: outcome.version };
  return { status: outcome.code === 'VERSION_CONFLICT' ? 409 : 422, body };
}
