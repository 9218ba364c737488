import { LightError } from './errors/light-error.js';
import type { RecordMetadata } from './exchange.js';
import type { BatchWriter, PartitionAck, TransportMessage } from './transport.js';

interface Pending {
  topic: string;
  message: TransportMessage;
  resolve: (metadata: RecordMetadata) => void;
  reject: (error: unknown) => void;
}

/**
 * Collects the records of one `send` call as each reaches the produce transport, and writes them in one
 * request once every record has either arrived or failed. If any record's chain failed, none is written:
 * the caller gets the failure and nothing reaches Kafka. One object per call; nothing is shared.
 */
export class SendCall {
  private readonly pending: Pending[] = [];
  private readonly arrived = new WeakSet<object>();
  private settled = 0;
  private failed = false;
  private writer: BatchWriter;

  constructor(
    private readonly expected: number,
    defaultWriter: BatchWriter,
  ) {
    this.writer = defaultWriter;
  }

  /**
   * Called by a produce transport: resolves with where the record landed once the batch is written. A transport
   * that writes elsewhere than the call's Kafka producer passes its own `writer` (the first one given is used).
   */
  add(record: object, topic: string, message: TransportMessage, writer?: BatchWriter): Promise<RecordMetadata> {
    if (writer && this.pending.length === 0) this.writer = writer;
    this.arrived.add(record);
    return new Promise<RecordMetadata>((resolve, reject) => {
      this.pending.push({ topic, message, resolve, reject });
      this.settle();
    });
  }

  /**
   * Called when a record's chain ended. A record that never reached the transport either failed (then the
   * batch is not written) or was deliberately dropped by a handler (then the others are written without it).
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
    const byTopic = new Map<string, TransportMessage[]>();
    for (const item of this.pending) {
      const messages = byTopic.get(item.topic);
      if (messages) messages.push(item.message);
      else byTopic.set(item.topic, [item.message]);
    }
    try {
      const acks = await this.writer([...byTopic].map(([topic, messages]) => ({ topic, messages })));
      for (const item of this.pending) item.resolve(metadataFor(item, acks, byTopic.get(item.topic)!.length));
    } catch (error) {
      for (const item of this.pending) item.reject(LightError.wrap(error, 'ERR12000', { topic: item.topic }));
    }
  }
}

/**
 * A batch is answered with one base offset per topic-partition, not per record. A record's own partition
 * and offset are therefore exact when it was the only record for its topic, or when its partition was fixed.
 */
function metadataFor(item: Pending, acks: PartitionAck[], sameTopic: number): RecordMetadata {
  const candidates = acks.filter(
    (candidate) => candidate.topic === item.topic && (item.message.partition === undefined || candidate.partition === item.message.partition),
  );
  const result = candidates.length === 1 ? candidates[0] : undefined;
  return {
    topic: item.topic,
    partition: result?.partition ?? item.message.partition ?? -1,
    baseOffset: result?.baseOffset,
    offset: result && sameTopic === 1 ? result.baseOffset : undefined,
  };
}
