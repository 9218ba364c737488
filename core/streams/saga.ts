import type { Counter, Gauge, Registry } from 'prom-client';
import { registeredCounter, registeredGauge } from '../registered-metric.js';
import { LightError } from '../errors/light-error.js';
import { commandFingerprint } from '../messages/command-identity.js';
import { KEY_REUSED, replyOf } from './command-processor.js';
import type { Logger } from '../logger.js';
import { currentContext } from '../request-context.js';
import { metadataFromContext, replyChecker, type Command, type CommandOutcome, type CommandReply, type Message, type MessageMetadata, type ReplyChannel } from '../messages/envelope.js';
import type { ProcessorContext, PunctuationContext, StreamRecord, StreamsBuilder } from './topology.js';

/**
 * Sagas by orchestration (Eventuate Tram Sagas' model on LightStreams): a saga definition lists steps, each a
 * command to a participant (any service's command topic, processed by processCommands or anything that answers
 * on the command's reply channel) with its compensating command. A saga instance lives in the store named after
 * the saga (changelog-backed) and advances by replies: consuming a reply, writing the next (or compensating)
 * command and the new saga state commit in one transaction under exactly_once. Timeouts are wall-clock
 * punctuations. Commands carry deterministic ids (`<saga id>:<step>:do`, `<saga id>:<step>:undo:<attempt>`), so a
 * participant that dedups by id (processCommands does) applies each at most once, whatever is re-sent.
 *
 * The rules:
 * - step i accepted: the next step, or COMPLETED after the last;
 * - step i rejected: COMPENSATING — the compensations of the steps before it, latest first;
 * - step i without a reply within its timeout: treated as failed and compensated as if rejected; its own outcome
 *   is still unknown (the participant may apply it later), so its command is sent again with the same id (a
 *   participant that has applied it answers with the first outcome) until a reply says: accepted (then it is
 *   compensated too) or rejected (nothing to undo);
 * - a compensation without a reply within its timeout is sent again with the same id; a rejected one is retried
 *   with a new id after a back-off (1 s doubling to retry.maxDelayMs); after retry.stuckAfterAttempts attempts the
 *   saga is marked `stuck` (state, log, metric light_kafka_sagas_stuck, `light-kafka sagas`) and goes on trying.
 * - COMPENSATED once every applied step is compensated and every timed-out step's outcome is known.
 */

/** A command a saga step sends: to `topic`, for one aggregate of a participant. */
export interface SagaCommand {
  topic: string;
  type: string;
  aggregateType: string;
  aggregateId: string;
  data: unknown;
  expectedVersion?: number;
}

export interface SagaStep<D> {
  name: string;
  command(data: D): SagaCommand;
  /** The command that undoes this step once it was applied (none: nothing to undo). */
  compensation?(data: D): SagaCommand;
  /** The saga's data after the step's accepted reply (default: unchanged). */
  onAccepted?(data: D, reply: CommandReply): D;
  /** How long the step waits for its reply (default: the saga's timeoutMs). */
  timeoutMs?: number;
}

export interface SagaDefinition<D> {
  /** Names the saga's stores: `<name>` (the instances, queryable by saga id) and `<name>.timers`. */
  name: string;
  /**
   * Where sagas start: a topic of commands or events keyed by saga id (co-partitioned with `replies`). `id` gives
   * the saga id (default: the message's aggregateId), `data` the saga's data. A start record for a saga id that
   * exists starts nothing (a re-sent start is harmless); a re-sent start that names a reply channel learns how the saga
   * ended, at once or when it ends.
   */
  start: { topic: string; data(message: Message & { aggregateId?: string }): D; id?(message: Message & { aggregateId?: string }): string };
  /** The saga's reply topic: the participants' replies, keyed by saga id; same partition count as the start topic. */
  replies: string;
  steps: SagaStep<D>[];
  /** How long a step waits for its reply unless it says otherwise (default 30 s). */
  timeoutMs?: number;
  /** Compensation retries: first back-off, longest back-off, attempts after which the saga is flagged stuck. */
  retry?: { firstDelayMs?: number; maxDelayMs?: number; stuckAfterAttempts?: number };
  /** How often each task looks for expired timeouts and due retries (default 1000 ms). */
  checkEveryMs?: number;
}

export type SagaStatus = 'RUNNING' | 'COMPENSATING' | 'COMPLETED' | 'COMPENSATED';

/** A command a saga waits for the reply to. */
export interface AwaitedCommand {
  commandId: string;
  step: number;
  kind: 'do' | 'undo';
  /** Sends of this command id so far (1 = the first). */
  sends: number;
  deadline: number;
}

export interface SagaHistoryEntry {
  at: string;
  step: string;
  event: 'started' | 'sent' | 'accepted' | 'rejected' | 'timed-out' | 'resent' | 'compensation-sent' | 'compensated' | 'compensation-rejected' | 'stuck' | 'completed' | 'compensated-all';
  commandId?: string;
  code?: string;
  reason?: string;
}

/** A saga instance as its store holds it (and as queries and `light-kafka sagas` show it). */
export interface SagaInstance<D = unknown> {
  id: string;
  saga: string;
  status: SagaStatus;
  data: D;
  /** The forward step under way (RUNNING), or the number of steps once COMPLETED. */
  step: number;
  awaiting: AwaitedCommand[];
  /** Steps whose compensation is still to be sent, in order. */
  toCompensate: number[];
  /** Compensation attempts of the step at the head of toCompensate (a new id each after a rejection). */
  compensationAttempt: number;
  /** When a rejected compensation is sent again. */
  retryAt?: number;
  stuck: boolean;
  failure?: { step: string; code: string; reason: string };
  history: SagaHistoryEntry[];
  startedAt: string;
  updatedAt: string;
  endedAt?: string;
  metadata: MessageMetadata;
  /** The propagated headers of the start (JWT, correlation id, trace context): the timeouts' commands go under them. */
  context: Record<string, string>;
  /** The reply channel of the latest start message that named one (a re-sent start's replaces it): told the saga's outcome when it ends. */
  replyTo?: ReplyChannel;
  /** The id and type of the start message whose channel that is (the first start when none named one): the outcome reply carries them. */
  startId: string;
  startType: string;
  /** commandFingerprint of the first start (its type, id and data): a start with the same id and other data is refused. */
  startFingerprint: string;
}

const FINAL: ReadonlySet<SagaStatus> = new Set(['COMPLETED', 'COMPENSATED']);

/** The timers store of a saga: per saga id in progress, when its next timeout or retry is due. */
export function sagaTimersStore(name: string): string {
  return `${name}.timers`;
}

/**
 * Adds a saga to a topology: its start and reply sources, its stores and its timeout punctuation. Query its
 * instances with `streams.query('<name>', sagaId)` or `streams.store('<name>')`.
 */
export function defineSaga<D>(builder: StreamsBuilder, definition: SagaDefinition<D>): void {
  if (definition.steps.length === 0) throw new LightError('ERR13013', { what: `saga ${definition.name}`, reason: 'has no steps' });
  const names = new Set<string>();
  for (const step of definition.steps) {
    if (names.has(step.name)) throw new LightError('ERR13013', { what: `saga ${definition.name}`, reason: `has two steps named ${step.name}` });
    names.add(step.name);
  }
  const engine = new SagaEngine(definition);
  const starts = builder.stream<string, Message>(definition.start.topic);
  const replies = builder.stream<string, CommandReply>(definition.replies);
  const sources = builder.process([starts as never, replies as never], [definition.name, sagaTimersStore(definition.name)], (record, context, stream) => {
    if (record.value === null || record.value === undefined) return;
    if (stream === 0) engine.onStart(record, context);
    else engine.onReply(record, context);
  });
  builder.punctuate({ sources, intervalMs: definition.checkEveryMs ?? 1000, due: (context) => engine.due(context), init: (services) => engine.init(services) });
}

/** What one saga instance does on a start, a reply or a timeout. */
class SagaEngine<D> {
  private readonly timeoutMs: number;
  private readonly firstDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly stuckAfter: number;
  private readonly replyProblem = replyChecker();
  private metrics: SagaMetrics | undefined;
  private logger: Logger | undefined;

  constructor(private readonly definition: SagaDefinition<D>) {
    this.timeoutMs = definition.timeoutMs ?? 30_000;
    this.firstDelayMs = definition.retry?.firstDelayMs ?? 1000;
    this.maxDelayMs = definition.retry?.maxDelayMs ?? 30_000;
    this.stuckAfter = definition.retry?.stuckAfterAttempts ?? 5;
  }

  init(services: { metricsRegistry: Registry; logger: Logger }): void {
    this.metrics = sagaMetrics(services.metricsRegistry);
    this.logger = services.logger.child({ saga: this.definition.name });
  }

  onStart(record: StreamRecord<unknown, unknown>, context: ProcessorContext): void {
    const message = record.value as Message & { aggregateId?: string; replyTo?: ReplyChannel; kind?: string };
    if (typeof message !== 'object' || typeof message.type !== 'string') throw new LightError('ERR11019', { kind: 'saga start (a command or an event)', reason: 'it has no type' });
    const id = this.definition.start.id?.(message) ?? message.aggregateId ?? (typeof record.key === 'string' ? record.key : undefined);
    if (!id) throw new LightError('ERR11019', { kind: 'saga start (a command or an event)', reason: 'no saga id: no aggregateId and no key' });
    const sagas = context.store(this.definition.name);
    const existing = sagas.get(id) as SagaInstance<D> | undefined;
    const startFingerprint = commandFingerprint({ type: message.type, aggregateType: `saga:${this.definition.name}`, aggregateId: id, data: message.data });
    if (existing) {
      if (existing.startFingerprint !== startFingerprint) {
        // The same saga id for another operation: refused (as processCommands refuses a reused command id); the saga goes on.
        if (message.replyTo) this.sendReply(message.replyTo, { ...existing, startId: message.id, startType: message.type }, { status: 'rejected', version: 0, code: KEY_REUSED, reason: `saga id ${id} was used before for a different ${existing.startType}` }, context);
        return;
      }
      // A re-sent start starts nothing. Its reply channel learns how the saga ended, under the re-sent start's id (the
      // id its sender waits for): at once when the saga has ended, else when it ends. The latest start's channel
      // replaces the earlier one: a sender whose wait ran out sends the start again to learn the outcome (ERR12016).
      if (message.replyTo) {
        const answered: SagaInstance<D> = { ...existing, replyTo: message.replyTo, startId: message.id, startType: message.type };
        if (FINAL.has(existing.status)) this.sendOutcome(answered, context);
        else this.save(answered, wallClock(context), context);
      }
      return;
    }
    const now = wallClock(context);
    const headers = currentContext()?.headers;
    const saved: Record<string, string> = {};
    for (const [name, value] of headers ?? []) saved[name] = value.toString('utf8');
    const saga: SagaInstance<D> = {
      id,
      saga: this.definition.name,
      status: 'RUNNING',
      data: this.definition.start.data(message),
      step: 0,
      awaiting: [],
      toCompensate: [],
      compensationAttempt: 0,
      stuck: false,
      history: [],
      startedAt: new Date(now).toISOString(),
      updatedAt: new Date(now).toISOString(),
      metadata: message.metadata ?? metadataFromContext(),
      context: saved,
      ...(message.replyTo ? { replyTo: message.replyTo } : {}),
      startId: message.id,
      startType: message.type,
      startFingerprint,
    };
    this.note(saga, now, { step: '-', event: 'started' });
    this.sendStep(saga, 0, 'do', now, context);
    this.save(saga, now, context);
  }

  onReply(record: StreamRecord<unknown, unknown>, context: ProcessorContext): void {
    const problem = this.replyProblem(record.value);
    if (problem) throw new LightError('ERR11019', { kind: 'reply', reason: problem });
    const reply = record.value as CommandReply;
    const id = typeof record.key === 'string' ? record.key : reply.commandId.slice(0, reply.commandId.indexOf(':'));
    const saga = context.store(this.definition.name).get(id) as SagaInstance<D> | undefined;
    // A reply for a command this saga no longer waits for (a duplicate, an earlier send's): already decided.
    const awaited = saga?.awaiting.find((candidate) => candidate.commandId === reply.commandId);
    if (!saga || !awaited) return;
    const now = wallClock(context);
    saga.awaiting = saga.awaiting.filter((candidate) => candidate !== awaited);
    const step = this.definition.steps[awaited.step]!;
    const outcome = reply.data;
    if (awaited.kind === 'do') {
      if (outcome.status === 'accepted') this.note(saga, now, { step: step.name, event: 'accepted', commandId: reply.commandId });
      else this.note(saga, now, { step: step.name, event: 'rejected', commandId: reply.commandId, code: outcome.code, reason: outcome.reason });
      if (saga.status === 'RUNNING') {
        if (outcome.status === 'accepted') {
          saga.data = step.onAccepted ? step.onAccepted(saga.data, reply) : saga.data;
          if (awaited.step + 1 < this.definition.steps.length) this.sendStep(saga, awaited.step + 1, 'do', now, context);
          else this.finish(saga, 'COMPLETED', now, context);
        } else {
          saga.failure = { step: step.name, code: outcome.code, reason: outcome.reason };
          this.compensate(saga, this.stepsBefore(awaited.step), now, context);
        }
      } else if (outcome.status === 'accepted' && step.compensation) {
        // A step that timed out was applied after all: it is compensated too.
        saga.toCompensate.push(awaited.step);
        this.advanceCompensation(saga, now, context);
      } else {
        this.advanceCompensation(saga, now, context);
      }
    } else if (outcome.status === 'accepted') {
      this.note(saga, now, { step: step.name, event: 'compensated', commandId: reply.commandId });
      saga.toCompensate.shift();
      saga.compensationAttempt = 0;
      saga.stuck = false;
      this.advanceCompensation(saga, now, context);
    } else {
      this.note(saga, now, { step: step.name, event: 'compensation-rejected', commandId: reply.commandId, code: outcome.code, reason: outcome.reason });
      saga.compensationAttempt++;
      saga.retryAt = now + this.backOff(saga.compensationAttempt);
      this.markStuckIf(saga, saga.compensationAttempt, step.name, now);
    }
    this.save(saga, now, context);
  }

  /** The sagas of a task whose timeout or retry is due: one unit each. */
  due(context: PunctuationContext): { name: string; run: () => void }[] {
    const timers = context.entries(sagaTimersStore(this.definition.name));
    this.gauges(context, timers);
    return timers
      .filter(({ value }) => (value as number) <= context.now)
      .map(({ key }) => ({ name: `saga ${this.definition.name} ${key}`, run: () => this.onTimer(key, context) }));
  }

  private onTimer(id: string, context: PunctuationContext): void {
    const saga = context.store(this.definition.name).get(id) as SagaInstance<D> | undefined;
    if (!saga || FINAL.has(saga.status)) {
      context.store(sagaTimersStore(this.definition.name)).delete(id);
      return;
    }
    const now = context.now;
    for (const awaited of saga.awaiting.filter((candidate) => candidate.deadline <= now)) {
      const step = this.definition.steps[awaited.step]!;
      if (awaited.kind === 'do' && saga.status === 'RUNNING') {
        // Treated as failed: compensate what came before; the step's own outcome is asked for again (same id).
        this.note(saga, now, { step: step.name, event: 'timed-out', commandId: awaited.commandId });
        saga.failure = { step: step.name, code: 'TIMEOUT', reason: `no reply within ${step.timeoutMs ?? this.timeoutMs} ms` };
        this.resend(saga, awaited, now, context);
        this.compensate(saga, this.stepsBefore(awaited.step), now, context);
      } else {
        this.resend(saga, awaited, now, context);
        this.markStuckIf(saga, awaited.sends, step.name, now);
      }
    }
    if (saga.retryAt !== undefined && saga.retryAt <= now) {
      delete saga.retryAt;
      this.advanceCompensation(saga, now, context);
    }
    this.save(saga, now, context);
  }

  private stepsBefore(step: number): number[] {
    const steps: number[] = [];
    for (let index = step - 1; index >= 0; index--) if (this.definition.steps[index]!.compensation) steps.push(index);
    return steps;
  }

  private compensate(saga: SagaInstance<D>, steps: number[], now: number, context: ProcessorContext): void {
    saga.status = 'COMPENSATING';
    saga.toCompensate.push(...steps);
    this.advanceCompensation(saga, now, context);
  }

  /** Sends the next compensation unless one is under way or waits for its retry; ends the saga when nothing is left. */
  private advanceCompensation(saga: SagaInstance<D>, now: number, context: ProcessorContext): void {
    if (saga.awaiting.some((awaited) => awaited.kind === 'undo') || saga.retryAt !== undefined) return;
    const next = saga.toCompensate[0];
    if (next !== undefined) this.sendStep(saga, next, 'undo', now, context);
    else if (saga.awaiting.length === 0) this.finish(saga, 'COMPENSATED', now, context);
  }

  private sendStep(saga: SagaInstance<D>, index: number, kind: 'do' | 'undo', now: number, context: ProcessorContext): void {
    const step = this.definition.steps[index]!;
    const commandId = kind === 'do' ? `${saga.id}:${index}:do` : `${saga.id}:${index}:undo:${saga.compensationAttempt}`;
    if (kind === 'do') saga.step = index;
    const awaited: AwaitedCommand = { commandId, step: index, kind, sends: 0, deadline: now };
    saga.awaiting.push(awaited);
    this.note(saga, now, { step: step.name, event: kind === 'do' ? 'sent' : 'compensation-sent', commandId });
    this.transmit(saga, awaited, now, context);
  }

  private resend(saga: SagaInstance<D>, awaited: AwaitedCommand, now: number, context: ProcessorContext): void {
    this.note(saga, now, { step: this.definition.steps[awaited.step]!.name, event: 'resent', commandId: awaited.commandId });
    this.transmit(saga, awaited, now, context);
  }

  /** Writes the awaited command (again) and sets its next deadline: the step's timeout, longer on each re-send. */
  private transmit(saga: SagaInstance<D>, awaited: AwaitedCommand, now: number, context: ProcessorContext): void {
    const step = this.definition.steps[awaited.step]!;
    const made = awaited.kind === 'do' ? step.command(saga.data) : step.compensation!(saga.data);
    const command: Command = {
      kind: 'command',
      id: awaited.commandId,
      type: made.type,
      aggregateType: made.aggregateType,
      aggregateId: made.aggregateId,
      ...(made.expectedVersion !== undefined && awaited.kind === 'do' ? { expectedVersion: made.expectedVersion } : {}),
      timestamp: new Date(now).toISOString(),
      metadata: saga.metadata,
      data: made.data,
      replyTo: { topic: this.definition.replies, key: saga.id },
    };
    awaited.sends++;
    awaited.deadline = now + Math.min(Math.max(this.maxDelayMs, step.timeoutMs ?? this.timeoutMs), (step.timeoutMs ?? this.timeoutMs) * 2 ** (awaited.sends - 1));
    context.send(made.topic, { key: made.aggregateId, value: command, timestamp: String(now), context: saga.context });
  }

  private finish(saga: SagaInstance<D>, status: 'COMPLETED' | 'COMPENSATED', now: number, context: ProcessorContext): void {
    saga.status = status;
    if (status === 'COMPLETED') saga.step = this.definition.steps.length;
    saga.endedAt = new Date(now).toISOString();
    saga.stuck = false;
    this.note(saga, now, { step: '-', event: status === 'COMPLETED' ? 'completed' : 'compensated-all' });
    this.sendOutcome(saga, context);
    this.metrics?.ended.inc({ saga: this.definition.name, status });
  }

  /** Tells the start's reply channel how the saga ended: accepted when COMPLETED, rejected (SAGA_COMPENSATED) otherwise. */
  private sendOutcome(saga: SagaInstance<D>, context: ProcessorContext): void {
    if (!saga.replyTo) return;
    const outcome: CommandOutcome =
      saga.status === 'COMPLETED'
        ? { status: 'accepted', version: this.definition.steps.length, events: [] }
        : { status: 'rejected', version: 0, code: 'SAGA_COMPENSATED', reason: compensatedReason(saga) };
    this.sendReply(saga.replyTo, saga, outcome, context);
  }

  /** A reply to the start message `saga.startId` on `channel`. */
  private sendReply(channel: ReplyChannel, saga: SagaInstance<D>, outcome: CommandOutcome, context: ProcessorContext): void {
    const now = wallClock(context);
    const start = { id: saga.startId, type: saga.startType, aggregateType: `saga:${this.definition.name}`, aggregateId: saga.id, metadata: saga.metadata };
    context.send(channel.topic, { key: channel.key, value: replyOf(start, outcome, now), timestamp: String(now), context: saga.context });
  }

  private markStuckIf(saga: SagaInstance<D>, attempts: number, step: string, now: number): void {
    if (saga.status !== 'COMPENSATING' || saga.stuck || attempts < this.stuckAfter) return;
    saga.stuck = true;
    this.note(saga, now, { step, event: 'stuck', reason: `${attempts} attempts without success` });
    // Never silent: the log, the light_kafka_sagas_stuck gauge, the instance's state and `light-kafka sagas` say so.
    this.logger?.error('saga stuck: a compensation keeps failing; it goes on being retried', { sagaId: saga.id, step, attempts, failure: saga.failure });
  }

  private backOff(attempt: number): number {
    return Math.min(this.maxDelayMs, this.firstDelayMs * 2 ** (attempt - 1));
  }

  private note(saga: SagaInstance<D>, now: number, entry: Omit<SagaHistoryEntry, 'at'>): void {
    saga.history.push({ at: new Date(now).toISOString(), ...entry });
  }

  /** Stores the instance and its next due time (none once it ended). */
  private save(saga: SagaInstance<D>, now: number, context: ProcessorContext): void {
    saga.updatedAt = new Date(now).toISOString();
    context.store(this.definition.name).put(saga.id, saga);
    const timers = context.store(sagaTimersStore(this.definition.name));
    const due = [...saga.awaiting.map(({ deadline }) => deadline), ...(saga.retryAt !== undefined ? [saga.retryAt] : [])];
    if (FINAL.has(saga.status) || due.length === 0) timers.delete(saga.id);
    else timers.put(saga.id, Math.min(...due));
  }

  /** In-progress and stuck sagas of this task, as of this punctuation (`timers`: one entry per saga in progress). */
  private gauges(context: PunctuationContext, timers: { key: string }[]): void {
    const metrics = (this.metrics ??= sagaMetrics(context.metricsRegistry));
    const labels = { saga: this.definition.name, partition: String(context.partition) };
    metrics.inProgress.set(labels, timers.length);
    let stuck = 0;
    for (const { key } of timers) {
      if ((context.store(this.definition.name).get(key) as SagaInstance<D> | undefined)?.stuck) stuck++;
    }
    metrics.stuck.set(labels, stuck);
  }
}

/** The wall-clock time a saga goes by: the context's (a test driver's clock), else now. */
function wallClock(context: ProcessorContext): number {
  return context.wallClockTime?.() ?? Date.now();
}

/** Why a compensated saga ended, as its reply to the start says it (and the transfers sample shows it). */
export function compensatedReason(saga: Pick<SagaInstance, 'failure'>): string {
  const { failure } = saga;
  return failure ? `step ${failure.step} failed (${failure.code}: ${failure.reason}); the steps before it were compensated` : 'compensated';
}

interface SagaMetrics {
  inProgress: Gauge<'saga' | 'partition'>;
  stuck: Gauge<'saga' | 'partition'>;
  ended: Counter<'saga' | 'status'>;
}

function sagaMetrics(registry: Registry): SagaMetrics {
  const gauge = (name: string, help: string): Gauge<'saga' | 'partition'> => registeredGauge(registry, { name, help, labelNames: ['saga', 'partition'] });
  return {
    inProgress: gauge('light_kafka_sagas_in_progress', 'Sagas not ended yet, per saga and partition this instance runs (as of its last timeout check)'),
    stuck: gauge('light_kafka_sagas_stuck', 'Sagas whose compensation failed retry.stuckAfterAttempts times or more and is still being retried'),
    ended: registeredCounter(registry, { name: 'light_kafka_sagas_ended_total', help: 'Sagas ended, by status (COMPLETED, COMPENSATED)', labelNames: ['saga', 'status'] }),
  };
}
