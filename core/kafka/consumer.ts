import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BusinessHandler, ConsumeChains } from '../chain/consume-chains.js';
import type { Handler } from '../chain/handler.js';
import { LightError, reasonOf } from '../errors/light-error.js';
import { RecordHeaders } from '../headers.js';
import type { Logger } from '../logger.js';
import type { ConsumedRecord } from './dead-letter.js';
import { dispatchConcurrently, type Ordering } from './concurrent-dispatch.js';
import type { DriverBatch, DriverConsumer, DriverMessage } from './driver.js';
import type { RecordOutcome, RecordProcessor } from './record-processor.js';

const HEARTBEAT_EVERY_MS = 100;

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
 * Events: 'record' (ConsumedEvent, after each record), 'partitionStopped' (failurePolicy: stop), 'groupJoin',
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
    const chain = this.chains.chainFor(topic);
    if (!chain) {
      // Subscribed by a pattern that no business handler claims for this topic: nothing can process it.
      this.logger.error('no business handler for topic; pausing it', { topic, partition });
      pause();
      return;
    }
    const ordering = this.parts.ordering ?? 'partition';
    if (ordering === 'partition') await this.consumeInOrder(batch, chain);
    else await this.consumeConcurrently(batch, chain, ordering);
  }

  /** Records one after another; a failed record (failurePolicy: stop) pauses the partition before the next. */
  private async consumeInOrder(batch: DriverBatch, chain: Handler): Promise<void> {
    const { topic, partition, resolveOffset, heartbeat, isRunning, isStale, pause, commitOffsetsIfNecessary } = batch;
    let lastHeartbeat = Date.now();
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) break;
      const outcome = await this.processor.process(consumedRecord(topic, partition, message), chain, { isRunning, heartbeat }, batch.highWatermark);
      if (outcome.kind === 'interrupted') break;
      if (outcome.kind === 'stopped') {
        pause();
        this.partitionStopped(topic, partition, message.offset, outcome.error);
        return;
      }
      resolveOffset(message.offset);
      this.emit('record', { topic, partition, offset: message.offset, outcome } satisfies ConsumedEvent);
      // Heartbeat and interval commits between records, but not after every one: they are async round trips
      // through the client that a fast chain would pay per record. Slow records still heartbeat every 100 ms.
      const now = Date.now();
      if (now - lastHeartbeat >= HEARTBEAT_EVERY_MS) {
        lastHeartbeat = now;
        await commitOffsetsIfNecessary();
        await heartbeat();
      }
    }
    await heartbeat();
  }

  /**
   * Records of the batch concurrently (per key, or unordered), up to maxConcurrency at once; an offset is resolved
   * once it and every record before it are done. A record that stops the partition pauses it after the records
   * in flight finish; records after it that finished are processed again when it resumes (at-least-once).
   */
  private async consumeConcurrently(batch: DriverBatch, chain: Handler, ordering: 'key' | 'unordered'): Promise<void> {
    const { topic, partition, heartbeat, isRunning, isStale, commitOffsetsIfNecessary } = batch;
    const running = (): boolean => isRunning() && !isStale();
    const result = await dispatchConcurrently(batch.messages, {
      ordering,
      maxConcurrency: this.parts.maxConcurrency ?? 16,
      isRunning: running,
      process: (message) => this.processor.process(consumedRecord(topic, partition, message), chain, { isRunning: running, heartbeat }, batch.highWatermark),
      onDone: (message, outcome) => this.emit('record', { topic, partition, offset: message.offset, outcome } satisfies ConsumedEvent),
      onCommittable: (offset) => batch.resolveOffset(offset),
      heartbeat: async () => {
        await commitOffsetsIfNecessary();
        await heartbeat();
      },
      heartbeatMs: HEARTBEAT_EVERY_MS,
    });
    if (result.stopped) {
      batch.pause();
      this.partitionStopped(topic, partition, result.stopped.message.offset, result.stopped.error);
    }
  }

  private partitionStopped(topic: string, partition: number, offset: string, cause: unknown): void {
    const error = new LightError('ERR12005', { topic, partition, offset, reason: reasonOf(cause) }, { cause });
    this.emit('partitionStopped', { topic, partition, offset, error });
  }
}

function consumedRecord(topic: string, partition: number, message: DriverMessage): ConsumedRecord {
  return {
    topic,
    partition,
    offset: message.offset,
    timestamp: message.timestamp,
    key: message.key ?? null,
    value: message.value,
    headers: RecordHeaders.from(message.headers),
  };
}
