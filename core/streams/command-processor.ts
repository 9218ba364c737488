import { LightError } from '../errors/light-error.js';
import { commandFingerprint } from '../messages/command-identity.js';
import { commandChecker, type Command, type CommandOutcome, type CommandReply, type Event } from '../messages/envelope.js';
import type { ProcessorContext, Punctuator, RefusedOutputs, SourceNode, StreamRecord } from './topology.js';

/**
 * The command side of an event-sourced aggregate, one command record at a time (see KStream.processCommands):
 * idempotency by command id, the version check, decide, the appended events, the outcome on the reply channel.
 */

/** What an aggregate's store holds: its state and the version of its last event. */
export interface AggregateRecord<S> {
  state: S;
  version: number;
}

/** The events a command decides (types and data; versions, ids and metadata are filled in), or a rejection. */
export type Decision = { type: string; data: unknown }[] | { reject: string; code?: string };

/**
 * How long the processor remembers a command id (and its outcome): `retainMs`, measured on the command records'
 * timestamps. Remembered ids older than that are deleted by a sweep every `retainMs / 24` (1 s to 1 h).
 */
export interface IdempotencyOptions {
  retainMs?: number;
}

/** A command id is remembered for 24 hours (the IETF Idempotency-Key draft's usual expiry, Stripe's too). */
export const DEFAULT_IDEMPOTENCY: Required<IdempotencyOptions> = { retainMs: 24 * 60 * 60 * 1000 };

export interface CommandProcessorOptions<S> {
  /** The aggregate store (one entry per aggregate id: AggregateRecord). */
  store: string;
  /** The event topic events are appended to. */
  events: string;
  /** Where CommandRejected events go (default: the event topic). */
  rejections?: string;
  initial: () => S;
  decide: (state: S, command: Command, version: number) => Decision;
  evolve: (state: S, event: Event) => S;
  /**
   * The processed-command memory (store `<store>.processed`, one entry per command id, changelog-backed, written
   * with the events): a command whose id was processed gets its first outcome again and appends nothing. `false`
   * turns it off.
   */
  idempotency?: IdempotencyOptions | false;
}

/** One remembered command (the value under processedCommandKey): its id, what it asked (commandFingerprint), when, what it came to. */
export interface ProcessedCommand {
  id: string;
  fingerprint: string;
  at: number;
  outcome: CommandOutcome;
}

/** The name of the processed-command store of an aggregate store. */
export function processedStoreOf(store: string): string {
  return `${store}.processed`;
}

/**
 * The key of a remembered command in the processed-command store: one entry per command, so remembering one
 * writes one small record (not the aggregate's whole history). A JSON array: any ids, no ambiguity.
 */
export function processedCommandKey(aggregateId: string, commandId: string): string {
  return JSON.stringify([aggregateId, commandId]);
}

/** The aggregate a processed-command key belongs to: its record key, hence its partition (queries go there). */
export function aggregateOfProcessedKey(key: string): string {
  try {
    const parsed = JSON.parse(key) as unknown;
    if (Array.isArray(parsed) && typeof parsed[0] === 'string') return parsed[0];
  } catch {
    // Not a processed-command key: routed as it is.
  }
  return key;
}

/** The punctuation that deletes remembered commands older than the retention (wall-clock time). */
export function processedSweeper(store: string, sources: readonly SourceNode[], options: IdempotencyOptions | undefined): Punctuator {
  const retainMs = options?.retainMs ?? DEFAULT_IDEMPOTENCY.retainMs;
  return {
    sources,
    intervalMs: Math.min(3_600_000, Math.max(1000, Math.floor(retainMs / 24))),
    due: (context) => [
      {
        name: `forget commands older than ${retainMs} ms in ${store}`,
        run: () => {
          const processed = context.store(store);
          for (const { key, value } of context.entries(store)) if (context.now - (value as ProcessedCommand).at > retainMs) processed.delete(key);
        },
      },
    ],
  };
}

/** The code a command gets when its id was used before for a different command (ERR11022 over HTTP). */
export const KEY_REUSED = 'IDEMPOTENCY_KEY_REUSED';

/** The reply to a command (or to a saga's start) with its outcome, made at `at` (ms; default now). */
export function replyOf(command: Pick<Command, 'id' | 'type' | 'aggregateType' | 'aggregateId' | 'metadata'>, outcome: CommandOutcome, at = Date.now()): CommandReply {
  return {
    kind: 'reply',
    id: `${command.id}-reply`,
    type: outcome.status === 'accepted' ? 'CommandAccepted' : 'CommandRejected',
    commandId: command.id,
    commandType: command.type,
    aggregateType: command.aggregateType,
    aggregateId: command.aggregateId,
    timestamp: new Date(at).toISOString(),
    metadata: command.metadata,
    data: outcome,
  };
}

type AnyRecord = StreamRecord<unknown, unknown>;

/** The processing step of processCommands: `emit` receives the appended events. */
export function commandStep<S>(options: CommandProcessorOptions<S>): (record: AnyRecord, emit: (record: AnyRecord) => void, context: ProcessorContext) => void {
  const { store, events, rejections = events, initial, decide, evolve } = options;
  const idempotency = options.idempotency === false ? undefined : { ...DEFAULT_IDEMPOTENCY, ...options.idempotency };
  const processedStore = processedStoreOf(store);
  const commandProblem = commandChecker();
  return (record, emit, context) => {
    const problem = commandProblem(record.value);
    if (problem) throw new LightError('ERR11019', { kind: 'command', reason: problem });
    const command = record.value as Command;
    const aggregates = context.store(store);
    const current = (aggregates.get(command.aggregateId) as AggregateRecord<S> | undefined) ?? { state: initial(), version: 0 };
    const replies = (outcome: CommandOutcome): { topic: string; record: AnyRecord }[] =>
      command.replyTo ? [{ topic: command.replyTo.topic, record: { ...record, key: command.replyTo.key, value: replyOf(command, outcome) } }] : [];
    const sendAll = (outputs: { topic: string; record: AnyRecord }[], onRefused?: RefusedOutputs): void => {
      for (const output of outputs) context.send(output.topic, output.record, onRefused);
    };

    // Idempotency: a command id seen before gets its first outcome again (or, for a different command, a rejection).
    const now = Number(record.timestamp) || Date.now();
    let remember = (_outcome: CommandOutcome): void => undefined;
    if (idempotency) {
      const processed = context.store(processedStore);
      const key = processedCommandKey(command.aggregateId, command.id);
      const fingerprint = commandFingerprint(command);
      const found = processed.get(key) as ProcessedCommand | undefined;
      // One the sweep has not deleted yet but older than the retention is forgotten already.
      if (found && now - found.at <= idempotency.retainMs) {
        if (found.fingerprint === fingerprint) sendAll(replies(found.outcome));
        else sendAll(replies({ status: 'rejected', version: current.version, code: KEY_REUSED, reason: `command id ${command.id} was used before for a different command (type, aggregate, expected version or data differ)` }));
        return;
      }
      remember = (outcome) => processed.put(key, { id: command.id, fingerprint, at: now, outcome } satisfies ProcessedCommand);
    }

    const rejectionOf = (reason: string, code: string): { topic: string; record: AnyRecord }[] => {
      const rejected = { commandId: command.id, commandType: command.type, reason, code, expectedVersion: command.expectedVersion ?? null, actualVersion: current.version };
      const rejection: Event = { kind: 'event', id: `${command.id}-rejected`, type: 'CommandRejected', aggregateType: command.aggregateType, aggregateId: command.aggregateId, version: current.version, timestamp: command.timestamp, metadata: command.metadata, data: rejected };
      return [{ topic: rejections, record: { ...record, key: command.aggregateId, value: rejection } }, ...replies({ status: 'rejected', version: current.version, code, reason })];
    };
    // An outcome its topic's produce chain refuses (an event its schema does not accept, say) is not lost: the
    // command is rejected instead (OUTCOME_REFUSED, the chain's error as the reason) and the aggregate is unchanged.
    // That rejection is not remembered (the store writes are dropped with the refused outputs): a re-send decides again.
    const refused: RefusedOutputs = (error) => rejectionOf(error.message, 'OUTCOME_REFUSED');
    const reject = (reason: string, code: string): void => {
      remember({ status: 'rejected', version: current.version, code, reason });
      sendAll(rejectionOf(reason, code), refused);
    };
    if (command.expectedVersion !== undefined && command.expectedVersion !== current.version) {
      reject(`expected version ${command.expectedVersion}, the aggregate is at version ${current.version}`, 'VERSION_CONFLICT');
      return;
    }
    const decision = decide(current.state, command, current.version);
    if (!Array.isArray(decision)) {
      reject(decision.reject, decision.code ?? 'REJECTED');
      return;
    }
    let { state, version } = current;
    const appended: Event[] = decision.map(({ type, data }, index) => ({
      kind: 'event',
      id: `${command.id}-${index}`,
      type,
      aggregateType: command.aggregateType,
      aggregateId: command.aggregateId,
      version: current.version + index + 1,
      timestamp: command.timestamp,
      metadata: command.metadata,
      data,
    }));
    for (const appendedEvent of appended) {
      state = evolve(state, appendedEvent);
      version = appendedEvent.version;
    }
    if (appended.length > 0) aggregates.put(command.aggregateId, { state, version });
    const accepted: CommandOutcome = { status: 'accepted', version, events: appended.map(({ id, type, version: eventVersion }) => ({ id, type, version: eventVersion })) };
    remember(accepted);
    for (const appendedEvent of appended) {
      const out = { ...record, key: command.aggregateId, value: appendedEvent };
      context.send(events, out, refused);
      emit(out);
    }
    sendAll(replies(accepted), refused);
  };
}

