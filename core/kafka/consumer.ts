import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { runIgnoringFailure, type BatchScope, type Chain } from '../chain/chain.js';
import type { RecordFailure } from '../chain/handler.js';
import type { BatchBusinessHandler, BusinessHandler, ConsumeChains, ConsumeRoute } from '../chain/consume-chains.js';
import { LightError, reasonOf } from '../errors/light-error.js';
import type { Exchange } from '../exchange.js';
import type { Logger } from '../logger.js';
import { runWithContext } from '../request-context.js';
import { dispatchConcurrently, type Ordering } from './concurrent-dispatch.js';
import type { DriverBatch, DriverConsumer, DriverMessage } from './driver.js';
import { consumedRecord, PROCESSED_FIRST_TIME, type ProcessingControl, type RecordOutcome, type RecordProcessor } from './record-processor.js';

const HEARTBEAT_EVERY_MS = 100;

/** When a batch last heartbeated and committed on its interval (shared by the slices of one batch). */
interface Pacing {
  lastHeartbeat: number;
}
/**
 * Records of a fetched batch that go through the chain together (one beginBatch / endBatch) when records are
 * handled one after another. A fetch of 4 MB holds thousands of small records: run as one chain batch, every
 * record's exchange, headers and handler state lived until the last record was done, outlived the young
 * generation and made garbage collection most of the consume cost (bench/README.md, issue 29).
 */
export const CHAIN_SLICE_RECORDS = 256;

export interface ConsumedEvent {
  topic: string;
  partition: number;
  offset: string;
  outcome: RecordOutcome;
}

/**
 * Consumes the topics that have a business handler. Records of one partition run one after another through
 * their chain; an offset is resolved only after its record was processed or dead-lettered, and the client commits
 * resolved offsets (kafkajs at the end of each batch and on its interval, librdkafka on its interval, both when the
 * consumer stops): at-least-once.
 *
 * Events: 'record' (ConsumedEvent, after each record), 'deadLettered' (ConsumedEvent, after a dead letter was
 * written), 'partitionStopped' (failurePolicy: stop), 'groupJoin',
 * 'crash' (kafkajs gave up; it restarts unless the error is not retriable).
 */
export interface LightConsumerParts {
  consumer: DriverConsumer;
  chains: ConsumeChains;
  processor: RecordProcessor;
  partitionsConsumedConcurrently: number;
  /** Within a partition: one record after another, per key, or unordered (kafka-consumer.yml). */
  ordering?: Ordering;
  maxConcurrency?: number;
  subscribeTimeoutMs: number;
  logger: Logger;
}

export class LightConsumer extends EventEmitter {
  private started = false;
  private joined = false;
  private readonly consumer: DriverConsumer;
  private readonly chains: ConsumeChains;
  private readonly processor: RecordProcessor;
  private readonly logger: Logger;

  constructor(private readonly parts: LightConsumerParts) {
    super();
    ({ consumer: this.consumer, chains: this.chains, processor: this.processor, logger: this.logger } = parts);
    const consumer = this.consumer;
    consumer.on('groupJoin', (payload) => {
      this.joined = true;
      this.emit('groupJoin', payload);
    });
    consumer.on('crash', (payload) => {
      this.joined = false;
      this.logger.error('consumer crashed', { error: payload.error, restart: payload.restart });
      this.emit('crash', payload);
    });
    consumer.on('groupLeave', () => (this.joined = false));
  }

  /** Registers the business handler of a topic (exact name or pattern). Call before the service starts. */
  handle(topic: string | RegExp, handler: BusinessHandler): this {
    if (this.started) throw new LightError('ERR10012', { component: 'LightConsumer.handle (register handlers before start)' });
    this.chains.register(topic, handler);
    return this;
  }

  /**
   * Registers a business handler that takes the records of a fetched batch at once (see BatchBusinessHandler).
   * Batches keep offset order, so it goes with kafka-consumer.yml `ordering: partition` only.
   */
  handleBatch(topic: string | RegExp, handler: BatchBusinessHandler): this {
    if (this.started) throw new LightError('ERR10012', { component: 'LightConsumer.handleBatch (register handlers before start)' });
    const ordering = this.parts.ordering ?? 'partition';
    if (ordering !== 'partition') {
      throw new LightError('ERR13001', { file: 'kafka-consumer.yml', key: 'ordering', reason: `is ${ordering}: a batch handler (handleBatch on ${String(topic)}) takes a partition's records in offset order and needs ordering: partition` });
    }
    this.chains.registerBatch(topic, handler);
    return this;
  }

  /** True when at least one business handler is registered (so start() joins a group). */
  get isSubscribed(): boolean {
    return this.chains.subscriptions().length > 0;
  }

  /** True once the consumer has joined its group (and until it stops or crashes). */
  get hasJoinedGroup(): boolean {
    return this.joined;
  }

  get groupId(): string {
    return this.consumer.groupId;
  }

  async start(): Promise<void> {
    const topics = this.chains.subscriptions();
    if (topics.length === 0) return;
    this.started = true;
    await this.consumer.connect();
    await this.subscribe(topics);
    await this.consumer.run({
      partitionsConsumedConcurrently: this.parts.partitionsConsumedConcurrently,
      eachBatch: (batch) => this.consumeBatch(batch),
    });
  }

  /**
   * Subscribes, waiting a bounded time for topics that do not exist yet: a broker that creates topics on first
   * use has them a moment after the first metadata request; anything else fails with ERR12007.
   */
  private async subscribe(topics: (string | RegExp)[]): Promise<void> {
    const deadline = Date.now() + this.parts.subscribeTimeoutMs;
    for (let wait = 250; ; wait = Math.min(wait * 2, 2000)) {
      try {
        await this.consumer.subscribe(topics);
        return;
      } catch (error) {
        const missingTopic = this.consumer.isMissingTopic(error);
        if (!missingTopic || Date.now() + wait > deadline) {
          throw new LightError('ERR12007', { topics: topics.map(String).join(', '), timeoutMs: this.parts.subscribeTimeoutMs, reason: reasonOf(error) }, { cause: error });
        }
        this.logger.warn('topic not there yet; subscribing again', { topics: topics.map(String), retryInMs: wait });
        await sleep(wait);
      }
    }
  }

  /** Waits for the records in flight, commits their offsets, leaves the group and disconnects. */
  async stop(): Promise<void> {
    this.consumer.stopRestarts();
    if (!this.started) return;
    this.started = false;
    await this.consumer.disconnect();
    this.joined = false;
  }

  private async consumeBatch(batch: DriverBatch): Promise<void> {
    const { topic, partition, pause } = batch;
    const route = this.chains.routeFor(topic);
    if (!route) {
      // Subscribed by a pattern that no business handler claims for this topic: nothing can process it.
      this.logger.error('no business handler for topic; pausing it', { topic, partition });
      pause();
      return;
    }
    const ordering = this.parts.ordering ?? 'partition';
    if (route.batchHandler && route.chain.allPhased) await this.consumeStaged(batch, route, route.batchHandler);
    else if (ordering === 'partition' || route.batchHandler) await this.consumeInSlices(batch, route);
    else await this.consumeConcurrently(batch, route, ordering);
  }

  /** A fetched batch through consumeInOrder in slices of CHAIN_SLICE_RECORDS, until a slice ends early. */
  private async consumeInSlices(batch: DriverBatch, route: ConsumeRoute): Promise<void> {
    const { messages } = batch;
    // Interval commits and heartbeats keep their pace across the slices of a batch.
    const pacing: Pacing = { lastHeartbeat: Date.now() };
    for (let from = 0; from < messages.length; from += CHAIN_SLICE_RECORDS) {
      const slice = messages.length <= CHAIN_SLICE_RECORDS ? batch : { ...batch, messages: messages.slice(from, from + CHAIN_SLICE_RECORDS) };
      if (!(await this.consumeInOrder(slice, route, pacing))) break;
    }
    await batch.heartbeat();
  }

  /** The batch's exchanges and what the chain's beginBatch gave them; no scope when a beginBatch failed (logged). */
  private async beginBatch(batch: DriverBatch, route: ConsumeRoute): Promise<{ exchanges: Exchange[]; scope: BatchScope | undefined }> {
    const { topic, partition, highWatermark } = batch;
    const exchanges = batch.messages.map((message) => this.processor.exchangeOf(topic, partition, message, highWatermark));
    try {
      return { exchanges, scope: await route.chain.beginBatch(exchanges) };
    } catch (error) {
      this.logger.warn('a handler failed to begin a batch; its records run one by one', { topic, partition, records: exchanges.length, error: reasonOf(error) });
      return { exchanges, scope: undefined };
    }
  }

  /**
   * Records one after another; a failed record (failurePolicy: stop) pauses the partition before the next. A record
   * whose chain is synchronous costs no promise. Handlers' endBatch runs before offsets may be committed. True when
   * every record of the batch was done; false when it stopped early (not running, stale, handed back, a stopped
   * partition).
   */
  private async consumeInOrder(batch: DriverBatch, route: ConsumeRoute, pacing: Pacing): Promise<boolean> {
    const { topic, partition, resolveOffset, heartbeat, isRunning, isStale, handBack, pause, commitOffsetsIfNecessary, highWatermark, messages } = batch;
    const control: ProcessingControl = { isRunning, heartbeat };
    const { exchanges, scope } = await this.beginBatch(batch, route);
    const events: ConsumedEvent[] = [];
    let flushed = 0;
    let attempted = 0;
    let flushing: Promise<void> = Promise.resolve();
    // Flushes (endBatch, then the 'record' events) of the records before `upTo`, one flush at a time.
    const flushUpTo = (upTo: number): Promise<void> =>
      (flushing = flushing.then(async () => {
        if (scope !== undefined && upTo > flushed) {
          const done = exchanges.slice(flushed, upTo);
          flushed = upTo;
          await this.processor.endBatch(route, done, scope);
        }
        this.emitRecords(events);
      }));
    const flush = (): Promise<void> => flushUpTo(attempted);
    // While a slow or retried record is awaited, the records done before it are flushed (audit, metrics, lag) every 100 ms.
    let awaiting = -1;
    const ticker = setInterval(() => {
      if (awaiting > flushed) void flushUpTo(awaiting);
    }, HEARTBEAT_EVERY_MS);
    try {
      for (let i = 0; i < messages.length; i++) {
        if (!isRunning() || isStale() || handBack()) return false;
        const message = messages[i]!;
        let outcome: RecordOutcome = PROCESSED_FIRST_TIME;
        if (scope === undefined) {
          outcome = await this.processor.process(consumedRecord(topic, partition, message), route, control, highWatermark);
        } else {
          attempted = i + 1;
          try {
            const pending = this.processor.runAttempt(exchanges[i]!, route, scope);
            if (pending) {
              awaiting = i;
              await pending;
            }
          } catch (error) {
            awaiting = i;
            outcome = await this.processor.recover(consumedRecord(topic, partition, message), error, route, control, highWatermark);
          } finally {
            awaiting = -1;
          }
        }
        if (outcome.kind === 'interrupted') return false;
        if (outcome.kind === 'stopped') {
          await flush();
          pause();
          this.partitionStopped(topic, partition, message.offset, outcome.error);
          return false;
        }
        resolveOffset(message.offset);
        this.recordDone(topic, partition, message.offset, outcome, events);
        // Heartbeat and interval commits between records, but not after every one: they are async round trips
        // through the client that a fast chain would pay per record. Slow records still heartbeat every 100 ms.
        const now = Date.now();
        if (now - pacing.lastHeartbeat >= HEARTBEAT_EVERY_MS) {
          pacing.lastHeartbeat = now;
          await flush();
          await commitOffsetsIfNecessary();
          await heartbeat();
        }
      }
    } finally {
      clearInterval(ticker);
      await flush();
    }
    return true;
  }

  /**
   * A batch business handler over an all-phased chain: each record's befores run in offset order, then the
   * handler takes the records that passed, then each record's afters. A record that fails before the handler is
   * retried or dead-lettered alone after the records before it were handed over; if the handler throws, each of
   * its records runs again alone, so only the one that fails is retried and dead-lettered.
   */
  private async consumeStaged(batch: DriverBatch, route: ConsumeRoute, handler: BatchBusinessHandler): Promise<void> {
    const { topic, partition, resolveOffset, heartbeat, isRunning, isStale, handBack, pause, highWatermark, messages } = batch;
    const control: ProcessingControl = { isRunning, heartbeat };
    const { exchanges, scope } = await this.beginBatch(batch, route);
    if (scope === undefined) return this.consumeInSlices(batch, { ...route, batchHandler: undefined });
    const { chain } = route;
    const events: ConsumedEvent[] = [];
    let ready: number[] = [];
    let stopped = false;
    // Emitted after the handlers' endBatch, as the other paths do: a listener (metrics) has the last word on the partition.
    let stoppedAt: { offset: string; error: unknown } | undefined;
    const finish = (index: number, outcome: RecordOutcome): boolean => {
      const { offset } = messages[index]!;
      if (outcome.kind === 'interrupted') return false;
      if (outcome.kind === 'stopped') {
        pause();
        stoppedAt = { offset, error: outcome.error };
        return false;
      }
      resolveOffset(offset);
      this.recordDone(topic, partition, offset, outcome, events);
      return true;
    };
    const handOver = async (): Promise<boolean> => {
      const indexes = ready;
      ready = [];
      if (indexes.length === 0) return true;
      const handed = indexes.map((index) => exchanges[index]!);
      let failure: { error: unknown } | undefined;
      try {
        await handler(handed);
      } catch (error) {
        failure = { error };
      }
      if (failure) {
        for (const exchange of handed) await runIgnoringFailure(() => aftersInContext(chain, exchange, scope, failure));
        this.logger.warn('batch handler failed; running its records one by one', { topic, partition, records: handed.length, error: reasonOf(failure.error) });
        for (const index of indexes) {
          if (!finish(index, await this.processor.process(consumedRecord(topic, partition, messages[index]!), route, control, highWatermark))) return false;
        }
        return true;
      }
      for (const index of indexes) {
        const exchange = exchanges[index]!;
        let outcome: RecordOutcome = PROCESSED_FIRST_TIME;
        try {
          const pending = aftersInContext(chain, exchange, scope, undefined);
          if (pending) await pending;
        } catch (error) {
          outcome = await this.processor.recover(consumedRecord(topic, partition, messages[index]!), error, route, control, highWatermark);
        }
        if (!finish(index, outcome)) return false;
      }
      return true;
    };
    try {
      for (let i = 0; i < messages.length && !stopped; i++) {
        if (!isRunning() || isStale() || handBack()) break;
        const exchange = exchanges[i]!;
        try {
          const pending = runWithContext(exchange.context!, () => chain.runBefores(exchange, scope));
          if (pending) await pending;
          try {
            void exchange.value;
          } catch (error) {
            // A value that cannot be decoded fails its record before the handler: through its afters, alone.
            await runIgnoringFailure(() => aftersInContext(chain, exchange, scope, { error }));
            throw error;
          }
          ready.push(i);
        } catch (error) {
          if (!(await handOver())) return;
          stopped = !finish(i, await this.processor.recover(consumedRecord(topic, partition, messages[i]!), error, route, control, highWatermark));
        }
      }
      if (!stopped) await handOver();
    } finally {
      await this.processor.endBatch(route, exchanges, scope);
      this.emitRecords(events);
      if (stoppedAt) this.partitionStopped(topic, partition, stoppedAt.offset, stoppedAt.error);
    }
    await heartbeat();
  }

  /**
   * Records of the batch concurrently (per key, or unordered), up to maxConcurrency at once; an offset is resolved
   * once it and every record before it are done. A record that stops the partition pauses it after the records
   * in flight finish; records after it that finished are processed again when it resumes (at-least-once).
   */
  private async consumeConcurrently(batch: DriverBatch, route: ConsumeRoute, ordering: 'key' | 'unordered'): Promise<void> {
    const { topic, partition, heartbeat, isRunning, isStale, handBack, commitOffsetsIfNecessary, highWatermark } = batch;
    const running = (): boolean => isRunning() && !isStale();
    const control: ProcessingControl = { isRunning: running, heartbeat };
    const { exchanges, scope } = await this.beginBatch(batch, route);
    const exchangeOf = new Map(batch.messages.map((message, i) => [message, exchanges[i]!]));
    let done: Exchange[] = [];
    const events: ConsumedEvent[] = [];
    const flush = async (): Promise<void> => {
      if (scope !== undefined && done.length > 0) {
        const finished = done;
        done = [];
        await this.processor.endBatch(route, finished, scope);
      }
      this.emitRecords(events);
    };
    const process = async (message: DriverMessage): Promise<RecordOutcome> => {
      if (scope === undefined) return this.processor.process(consumedRecord(topic, partition, message), route, control, highWatermark);
      const exchange = exchangeOf.get(message)!;
      try {
        await this.processor.runAttempt(exchange, route, scope);
        return PROCESSED_FIRST_TIME;
      } catch (error) {
        return this.processor.recover(consumedRecord(topic, partition, message), error, route, control, highWatermark);
      } finally {
        done.push(exchange);
      }
    };
    let result: Awaited<ReturnType<typeof dispatchConcurrently>>;
    try {
      result = await dispatchConcurrently(batch.messages, {
        ordering,
        maxConcurrency: this.parts.maxConcurrency ?? 16,
        // A revoked partition starts nothing more; a stop or a hand-back first finishes the records below the highest
        // one started, so what is done is committable and the next owner does not process it again.
        isRunning: () => !isStale(),
        handBack: () => handBack() || !isRunning(),
        process,
        onDone: (message, outcome) => this.recordDone(topic, partition, message.offset, outcome, events),
        onCommittable: (offset) => batch.resolveOffset(offset),
        heartbeat: async () => {
          await flush();
          await commitOffsetsIfNecessary();
          await heartbeat();
        },
        heartbeatMs: HEARTBEAT_EVERY_MS,
      });
    } finally {
      await flush();
    }
    if (result.stopped) {
      batch.pause();
      this.partitionStopped(topic, partition, result.stopped.message.offset, result.stopped.error);
    }
  }

  /**
   * 'deadLettered' for a dead-lettered record; 'record' for each record (only built when someone listens), held in
   * `deferred` until the handlers' endBatch ran for it, so a listener sees its audit line and metrics written.
   */
  private recordDone(topic: string, partition: number, offset: string, outcome: RecordOutcome, deferred: ConsumedEvent[]): void {
    if (outcome.kind === 'deadLettered') this.emit('deadLettered', { topic, partition, offset, outcome } satisfies ConsumedEvent);
    if (this.listenerCount('record') > 0) deferred.push({ topic, partition, offset, outcome });
  }

  private emitRecords(events: ConsumedEvent[]): void {
    for (const event of events.splice(0)) this.emit('record', event);
  }

  private partitionStopped(topic: string, partition: number, offset: string, cause: unknown): void {
    const error = new LightError('ERR12005', { topic, partition, offset, reason: reasonOf(cause) }, { cause });
    this.emit('partitionStopped', { topic, partition, offset, error });
  }
}

/** A record's afters (staged running), inside the record's request context. */
function aftersInContext(chain: Chain, exchange: Exchange, scope: BatchScope, failure: RecordFailure | undefined): void | Promise<void> {
  return runWithContext(exchange.context!, () => chain.runAfters(exchange, scope, failure));
}
