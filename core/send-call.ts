import { LightError } from './errors/light-error.js';
import type { Exchange, RecordMetadata } from './exchange.js';
import type { BatchWriter, PartitionAck, TransportMessage } from './transport.js';

interface Pending {
  topic: string;
  message: TransportMessage;
  /** The exchange whose metadata the write fills (records a phased transport queued). */
  exchange: Exchange | undefined;
  resolve: ((metadata: RecordMetadata) => void) | undefined;
  reject: ((error: unknown) => void) | undefined;
}

/**
 * Collects the records of one `send` call as each reaches the produce transport, and writes them in one
 * request: when the producer says so (every record of an all-phased chain passed its befores), or once every
 * record has either arrived or failed (chains with around handlers). If any record's chain failed, none is
 * written: the caller gets the failure and nothing reaches Kafka. One object per call; nothing is shared.
 */
export class SendCall {
  private readonly pending: Pending[] = [];
  private readonly byRecord = new Map<object, Pending>();
  private settled = 0;
  private failed = false;
  private writer: BatchWriter;
  private written: Promise<void> | undefined;

  constructor(
    private readonly expected: number,
    defaultWriter: BatchWriter,
  ) {
    this.writer = defaultWriter;
  }

  /**
   * Called by a phased produce transport: queues the record; the write fills `exchange.metadata`. A transport
   * that writes elsewhere than the call's Kafka producer passes its own `writer` (the first one given is used).
   */
  enqueue(exchange: Exchange, message: TransportMessage, writer?: BatchWriter): void {
    this.queue(exchange, { topic: exchange.topic, message, exchange, resolve: undefined, reject: undefined }, writer);
  }

  /**
   * Called by an around produce transport: queues the record and resolves with where it landed once the batch is
   * written (`writer` as for enqueue).
   */
  add(record: object, topic: string, message: TransportMessage, writer?: BatchWriter): Promise<RecordMetadata> {
    return new Promise<RecordMetadata>((resolve, reject) => {
      this.queue(record, { topic, message, exchange: undefined, resolve, reject }, writer);
      this.settle();
    });
  }

  private queue(record: object, item: Pending, writer: BatchWriter | undefined): void {
    if (writer && this.pending.length === 0) this.writer = writer;
    this.pending.push(item);
    this.byRecord.set(record, item);
  }

  /** The end of a record's chain (around mode) once its transport queued it: resolves when it was written. */
  whenWritten(exchange: Exchange): Promise<void> {
    const item = this.byRecord.get(exchange);
    if (!item) return Promise.reject(new LightError('ERR10012', { component: `the produce transport (it did not queue the record for ${exchange.topic})` }));
    const done = new Promise<void>((resolve, reject) => {
      item.resolve = () => resolve();
      item.reject = reject;
    });
    this.settle();
    return done;
  }

  /**
   * Called when a record's chain ended (around mode). A record that never reached the transport either failed
   * (then the batch is not written) or was deliberately dropped by a handler (then the others are written without it).
   */
  settleIfNotArrived(record: object, chainFailed: boolean): void {
    if (this.byRecord.has(record)) return;
    if (chainFailed) this.failed = true;
    this.settle();
  }

  /** Writes every queued record now (staged mode); rejects with ERR12000 when the write failed. */
  flush(): Promise<void> {
    return (this.written ??= this.write());
  }

  private settle(): void {
    this.settled += 1;
    if (this.settled < this.expected) return;
    if (this.failed) {
      for (const item of this.pending) item.reject?.(new LightError('ERR12003', { topic: item.topic }));
      return;
    }
    this.flush().catch(() => undefined); // each record's promise carries the failure
  }

  private async write(): Promise<void> {
    const byTopic = new Map<string, TransportMessage[]>();
    for (const item of this.pending) {
      const messages = byTopic.get(item.topic);
      if (messages) messages.push(item.message);
      else byTopic.set(item.topic, [item.message]);
    }
    let acks: PartitionAck[];
    try {
      acks = this.pending.length === 0 ? [] : await this.writer([...byTopic].map(([topic, messages]) => ({ topic, messages })));
    } catch (error) {
      const failure = LightError.wrap(error, 'ERR12000', { topic: this.pending[0]?.topic ?? '' });
      for (const item of this.pending) item.reject?.(failure);
      throw failure;
    }
    for (const item of this.pending) {
      const metadata = metadataFor(item, acks, byTopic.get(item.topic)!.length);
      if (item.exchange) {
        item.exchange.metadata = metadata;
        item.exchange.partition = metadata.partition >= 0 ? metadata.partition : undefined;
        item.exchange.offset = metadata.offset;
      }
      item.resolve?.(metadata);
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
