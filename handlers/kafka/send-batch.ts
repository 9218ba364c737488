import type { Message, RecordMetadata as KafkaRecordMetadata, TopicMessages } from 'kafkajs';
import { LightError } from '../../core/errors/light-error.js';
import type { RecordMetadata } from '../../core/exchange.js';

/** Sends one batch of messages in one request: a plain producer's or a transaction's sendBatch. */
export type BatchSender = (topicMessages: TopicMessages[]) => Promise<KafkaRecordMetadata[]>;

interface Pending {
  topic: string;
  message: Message;
  resolve: (metadata: RecordMetadata) => void;
  reject: (error: unknown) => void;
}

/**
 * Collects the records of one `send` call as each reaches the end of its chain, and sends them in one
 * request once every record has either arrived or failed. If any record's chain failed, none is sent:
 * the caller gets the failure and nothing reaches Kafka. One object per call; nothing is shared.
 */
export class SendBatch {
  private readonly pending: Pending[] = [];
  private readonly arrived = new WeakSet<object>();
  private settled = 0;
  private failed = false;

  constructor(
    private readonly expected: number,
    private readonly sender: BatchSender,
  ) {}

  /** Called by the transport handler: resolves with where the record landed once the batch is sent. */
  add(record: object, topic: string, message: Message): Promise<RecordMetadata> {
    this.arrived.add(record);
    return new Promise<RecordMetadata>((resolve, reject) => {
      this.pending.push({ topic, message, resolve, reject });
      this.settle();
    });
  }

  /**
   * Called when a record's chain ended. A record that never reached the transport either failed (then the
   * batch is not sent) or was deliberately dropped by a handler (then the others are sent without it).
   */
  settleIfNotArrived(record: object, chainFailed: boolean): void {
    if (this.arrived.has(record)) return;
    if (chainFailed) this.failed = true;
    this.settle();
  }

  private settle(): void {
    this.settled += 1;
    if (this.settled < this.expected) return;
    if (this.failed) {
      for (const item of this.pending) item.reject(new LightError('ERR12003', { topic: item.topic }));
      return;
    }
    void this.flush();
  }

  private async flush(): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const item of this.pending) {
      const messages = byTopic.get(item.topic);
      if (messages) messages.push(item.message);
      else byTopic.set(item.topic, [item.message]);
    }
    try {
      const results = await this.sender([...byTopic].map(([topic, messages]) => ({ topic, messages })));
      for (const item of this.pending) item.resolve(metadataFor(item, results, byTopic.get(item.topic)!.length));
    } catch (error) {
      for (const item of this.pending) item.reject(LightError.wrap(error, 'ERR12000', { topic: item.topic }));
    }
  }
}

/**
 * kafkajs answers a batch with one base offset per topic-partition, not per record. A record's own partition
 * and offset are therefore exact when it was the only record for its topic, or when its partition was fixed.
 */
function metadataFor(item: Pending, results: KafkaRecordMetadata[], sameTopic: number): RecordMetadata {
  const candidates = results.filter(
    (candidate) => candidate.topicName === item.topic && (item.message.partition === undefined || candidate.partition === item.message.partition),
  );
  const result = candidates.length === 1 ? candidates[0] : undefined;
  return {
    topic: item.topic,
    partition: result?.partition ?? item.message.partition ?? -1,
    baseOffset: result?.baseOffset,
    offset: result && sameTopic === 1 ? result.baseOffset : undefined,
  };
}

/** Attachment under which LightProducer hands a record's SendBatch to the transport handler. */
export const SEND_BATCH = Symbol.for('light-kafka.sendBatch');
