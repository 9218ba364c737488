/**
 * The HTTP side of idempotent commands: before a command with an Idempotency-Key is produced, the aggregate's
 * processed-command record (what processCommands remembers per account, in the same transaction as the events) says
 * whether that id was processed, and what it came to. The command processor stays the arbiter: a request that finds
 * nothing here (a race with the first, or a record not readable now: lookUp) is produced, and the processor answers a re-sent
 * id with its first outcome, or IDEMPOTENCY_KEY_REUSED.
 */
import { commandFingerprint, DEFAULT_IDEMPOTENCY, KEY_REUSED, processedStoreOf, type Command, type CommandOutcome, type LightService, type ProcessedCommands } from '../../index.js';
import { ACCOUNT_STORE } from './domain.js';
import { lookUp } from './http-api.js';

/**
 * The outcome of an earlier command with this command's id on its account: the first outcome when it was the same
 * command (commandFingerprint), a rejection with code IDEMPOTENCY_KEY_REUSED when it was another; undefined when the
 * id is not remembered (never processed, or older than the processor's retention).
 */
export async function earlierOutcome(service: LightService, command: Command): Promise<CommandOutcome | undefined> {
  const record = await lookUp<ProcessedCommands>(service, processedStoreOf(ACCOUNT_STORE), command.aggregateId);
  const now = Date.now();
  // The processor's own window (the sample runs it with the default retention): an id it no longer remembers is new to it.
  const earlier = record?.commands.find((entry) => entry.id === command.id && now - entry.at <= DEFAULT_IDEMPOTENCY.retainMs);
  if (!earlier) return undefined;
  if (earlier.fingerprint === commandFingerprint(command)) return earlier.outcome;
  return { status: 'rejected', version: earlier.outcome.version, code: KEY_REUSED, reason: `command id ${command.id} was used before for a different command` };
}
