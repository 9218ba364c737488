import type { KafkaMessage, Producer } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConsumeChain } from '../../core/consume-chains.js';
import { LightError, reasonOf } from '../../core/errors/light-error.js';
import { Attachment } from '../../core/attachments.js';
import { Exchange } from '../../core/exchange.js';
import { RecordHeaders } from '../../core/headers.js';
import type { Logger } from '../../core/logger.js';
import { contextFromRecord, runWithContext } from '../../core/request-context.js';
import type { KafkaConsumerYml } from './config-schemas.js';
import { errorCodeOf, writeDeadLetter } from './dead-letter.js';
import { deserialize } from './serde.js';

/** What happened to one record: processed (or dead-lettered) so its offset may be committed, or not. */
export type RecordOutcome =
  | { kind: 'processed'; attempts: number }
  | { kind: 'deadLettered'; attempts: number; deadLetterTopic: string; error: unknown }
  | { kind: 'stopped'; attempts: number; error: unknown }
  | { kind: 'interrupted' };

export interface RecordSource {
  topic: string;
  partition: number;
  message: KafkaMessage;
  highWatermark?: string;
}

/**
 * Runs one consumed record through its chain under the consumer's failure policy: retry a retryable failure
 * with backoff, then write it to the dead-letter topic (or stop its partition with failurePolicy: stop).
 * Security and validation failures (non-retryable codes) skip the retries.
 */
export class RecordProcessor {
  constructor(
    private readonly config: KafkaConsumerYml,
    private readonly deadLetterProducer: Producer,
    private readonly groupId: string,
    private readonly logger: Logger,
  ) {}

  async process(source: RecordSource, chain: ConsumeChain, isRunning: () => boolean, heartbeat: () => Promise<void>): Promise<RecordOutcome> {
    let attempts = 0;
    for (;;) {
      attempts += 1;
      const exchange = this.toExchange(source);
      try {
        exchange.key = deserialize(source.message.key, this.config.keyFormat, source.topic, 'key') as string | Buffer | null;
        exchange.value = chain.decodesValue ? source.message.value : deserialize(source.message.value, this.config.valueFormat, source.topic, 'value');
        await runWithContext(contextFromRecord(exchange.headers), () => chain.handler(exchange, async () => undefined));
        return { kind: 'processed', attempts };
      } catch (error) {
        const retryable = !(error instanceof LightError) || error.retryable;
        if (retryable && attempts <= this.config.maxRetries) {
          if (!isRunning()) return { kind: 'interrupted' };
          this.logger.warn('record failed, retrying', { record: exchange.describe(), attempt: attempts, code: errorCodeOf(error), error: reasonOf(error) });
          await this.backoff(attempts, isRunning, heartbeat);
          if (!isRunning()) return { kind: 'interrupted' };
          continue;
        }
        return this.giveUp(source, error, attempts);
      }
    }
  }

  private async giveUp(source: RecordSource, error: unknown, attempts: number): Promise<RecordOutcome> {
    const record = `${source.topic}-${source.partition}@${source.message.offset}`;
    if (this.config.failurePolicy === 'stop' || !this.config.deadLetterEnabled) {
      this.logger.error('record failed, stopping its partition', { record, code: errorCodeOf(error), error });
      return { kind: 'stopped', attempts, error };
    }
    // If this write fails, the error propagates: the offset stays uncommitted and the record comes again.
    const deadLetterTopic = await writeDeadLetter(
      this.deadLetterProducer,
      { topic: source.topic, partition: source.partition, message: source.message, error, attempts, groupId: this.groupId },
      { topicExt: this.config.deadLetterTopicExt, stackTraceMaxBytes: this.config.stackTraceMaxBytes },
    );
    this.logger.warn('record sent to the dead-letter topic', { record, deadLetterTopic, code: errorCodeOf(error), error: reasonOf(error), attempts });
    return { kind: 'deadLettered', attempts, deadLetterTopic, error };
  }

  /** Waits retryDelayMs * multiplier^(attempt-1), capped, in slices so the group heartbeat and a stop are not held up. */
  private async backoff(attempt: number, isRunning: () => boolean, heartbeat: () => Promise<void>): Promise<void> {
    const { retryDelayMs, retryBackoffMultiplier, maxRetryDelayMs } = this.config;
    let remaining = Math.min(retryDelayMs * retryBackoffMultiplier ** (attempt - 1), maxRetryDelayMs);
    while (remaining > 0 && isRunning()) {
      const slice = Math.min(remaining, 1000);
      await sleep(slice);
      remaining -= slice;
      await heartbeat();
    }
  }

  private toExchange({ topic, partition, message, highWatermark }: RecordSource): Exchange {
    const exchange = new Exchange({
      direction: 'consume',
      topic,
      partition,
      offset: message.offset,
      timestamp: message.timestamp,
      key: message.key,
      rawValue: message.value,
      headers: RecordHeaders.from(message.headers),
      ...(highWatermark !== undefined ? { highWatermark } : {}),
    });
    exchange.attachments.set(Attachment.consumerGroup, this.groupId);
    return exchange;
  }
}
