/**
 * The HTTP side of idempotent commands: before a command with an Idempotency-Key is produced, the processed-command
 * entry of that id on that account (what processCommands remembers, in the same transaction as the events) says
 * whether it was processed, and what it came to. The command processor stays the arbiter: a request that finds
 * nothing here (a race with the first, or a record not readable now: lookUp) is produced, and the processor answers a re-sent
 * id with its first outcome, or IDEMPOTENCY_KEY_REUSED.
 */
import { commandFingerprint, DEFAULT_IDEMPOTENCY, KEY_REUSED, processedCommandKey, processedStoreOf, type Command, type CommandOutcome, type LightService, type ProcessedCommand } from '../../index.js';
import { ACCOUNT_STORE } from './domain.js';
import { lookUp } from './http-api.js';

/**
 * The outcome of an earlier command with this command's id on its account: the first outcome when it was the same
 * command (commandFingerprint), a rejection with code IDEMPOTENCY_KEY_REUSED when it was another; undefined when the
 * id is not remembered (never processed, or older than the processor's retention).
 */
export async function earlierOutcome(service: LightService, command: Command): Promise<CommandOutcome | undefined> {
  // Asked of the instance that owns the account (the store routes a processed-command key by its aggregate).
  const earlier = await lookUp<ProcessedCommand>(service, processedStoreOf(ACCOUNT_STORE), processedCommandKey(command.aggregateId, command.id));
  // The processor's own window (the sample runs it with the default retention): an id it no longer remembers is new to it.
  if (!earlier || Date.now() - earlier.at > DEFAULT_IDEMPOTENCY.retainMs) return undefined;
  if (earlier.fingerprint === commandFingerprint(command)) return earlier.outcome;
  return { status: 'rejected', version: earlier.outcome.version, code: KEY_REUSED, reason: `command id ${command.id} was used before for a different command` };
}
