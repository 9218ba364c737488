import type { Producer, RecordMetadata as KafkaRecordMetadata, Transaction } from 'kafkajs';
import type { ProduceChains } from '../chain/produce-chains.js';
import { LightError } from '../errors/light-error.js';
import { Exchange, type OutgoingRecord, type RecordMetadata } from '../exchange.js';
import { RecordHeaders } from '../headers.js';
import { currentContext } from '../request-context.js';
import { SendCall } from '../send-call.js';
import type { TransactionInterceptors } from '../transactions.js';
import { SEND_CALL, type BatchWriter, type PartitionAck } from '../transport.js';

/** Per-send options of kafka-producer.yml. */
export interface SendOptions {
  timeout?: number;
  compression?: number;
}

/** How records enter the produce chains: the chains, and the extra headers copied from the unit of work. */
export interface ProducePath {
  chains: ProduceChains;
  /** service.yml propagatedHeaders: no handler carries them, so each produced record takes them from the context. */
  extraHeaders: readonly string[];
}

function toExchange(topic: string, record: OutgoingRecord, extraHeaders: readonly string[]): Exchange {
  const headers = RecordHeaders.from(record.headers);
  if (extraHeaders.length > 0) {
    const context = currentContext();
    for (const name of extraHeaders) {
      const value = context?.headers.getBuffer(name);
      if (value && !headers.has(name)) headers.set(name, value);
    }
  }
  return new Exchange({
    direction: 'produce',
    topic,
    key: record.key ?? null,
    value: record.value,
    headers,
    ...(record.partition !== undefined ? { partition: record.partition } : {}),
    ...(record.timestamp !== undefined ? { timestamp: record.timestamp } : {}),
  });
}

/**
 * Runs every record through its produce chain; the transport at the end of each chain adds the record to one
 * send call, written in one request. If any record fails in its chain, nothing is sent and the first failure is thrown.
 */
async function sendThroughChains(path: ProducePath, topic: string, records: OutgoingRecord[], writer: BatchWriter): Promise<RecordMetadata[]> {
  if (records.length === 0) return [];
  const chain = path.chains.chainFor(topic);
  const call = new SendCall(records.length, writer);
  const exchanges = records.map((record) => toExchange(topic, record, path.extraHeaders));
  const outcomes = await Promise.allSettled(
    exchanges.map(async (exchange) => {
      exchange.attachments.set(SEND_CALL, call);
      try {
        await chain(exchange, async () => undefined);
      } catch (error) {
        call.settleIfNotArrived(exchange, true);
        throw error;
      }
      call.settleIfNotArrived(exchange, false);
    }),
  );
  const failures = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected').map((outcome) => outcome.reason as unknown);
  if (failures.length > 0) {
    // The records that were waiting for the batch fail with ERR12003; report the cause instead.
    throw failures.find((error) => !(error instanceof LightError && error.code === 'ERR12003')) ?? failures[0];
  }
  return exchanges.map((exchange) => exchange.metadata ?? { topic, partition: -1 });
}

/** A BatchWriter over a kafkajs producer's or transaction's sendBatch. */
function kafkaWriter(sendBatch: Producer['sendBatch'], options: SendOptions & { acks: number }): BatchWriter {
  return async (batches) => {
    const results = await sendBatch({
      topicMessages: batches.map(({ topic, messages }) => ({
        topic,
        messages: messages.map((message) => ({
          key: message.key,
          value: message.value,
          headers: message.headers.toKafka(),
          ...(message.partition !== undefined ? { partition: message.partition } : {}),
          ...(message.timestamp !== undefined ? { timestamp: message.timestamp } : {}),
        })),
      })),
      ...options,
    });
    return results.map(toAck);
  };
}

function toAck(result: KafkaRecordMetadata): PartitionAck {
  return { topic: result.topicName, partition: result.partition, baseOffset: result.baseOffset };
}

/** Sends records through the produce chain of their topic. */
export class LightProducer {
  private stopping = false;
  private readonly writer: BatchWriter;

  constructor(
    producer: Producer,
    private readonly path: ProducePath,
    sendOptions: SendOptions & { acks: number },
  ) {
    this.writer = kafkaWriter((request) => producer.sendBatch(request), sendOptions);
  }

  send(topic: string, record: OutgoingRecord): Promise<RecordMetadata>;
  send(topic: string, records: OutgoingRecord[]): Promise<RecordMetadata[]>;
  async send(topic: string, input: OutgoingRecord | OutgoingRecord[]): Promise<RecordMetadata | RecordMetadata[]> {
    if (this.stopping) throw new LightError('ERR10013', { component: 'LightProducer' });
    const records = Array.isArray(input) ? input : [input];
    const results = await sendThroughChains(this.path, topic, records, this.writer);
    return Array.isArray(input) ? results : results[0]!;
  }

  /** Refuses new sends; the sends already under way finish. */
  markStopping(): void {
    this.stopping = true;
  }
}

/** One Kafka transaction: records sent through it are committed all together or not at all. */
export class LightTransaction {
  private readonly writer: BatchWriter;

  constructor(
    private readonly transaction: Transaction,
    private readonly path: ProducePath,
    sendOptions: SendOptions,
  ) {
    this.writer = kafkaWriter((request) => transaction.sendBatch(request), { acks: -1, ...sendOptions });
  }

  send(topic: string, record: OutgoingRecord): Promise<RecordMetadata>;
  send(topic: string, records: OutgoingRecord[]): Promise<RecordMetadata[]>;
  async send(topic: string, input: OutgoingRecord | OutgoingRecord[]): Promise<RecordMetadata | RecordMetadata[]> {
    const records = Array.isArray(input) ? input : [input];
    const results = await sendThroughChains(this.path, topic, records, this.writer);
    return Array.isArray(input) ? results : results[0]!;
  }

  /** Commits consumed offsets inside the transaction (consume-transform-produce, exactly once). */
  sendOffsets(offsets: Parameters<Transaction['sendOffsets']>[0]): Promise<void> {
    return this.transaction.sendOffsets(offsets);
  }
}

export interface TransactionalProducerParts {
  producer: Producer;
  path: ProducePath;
  transactionalId: string;
  sendOptions: SendOptions;
  /** Work around each transaction that handlers registered (the tracing handler's transaction span). */
  interceptors: TransactionInterceptors;
}

/**
 * A producer with a transactional.id. `transaction(work)` commits what `work` sent when it returns and aborts
 * it when it throws; read_committed consumers never see aborted records. Transactions run one at a time.
 */
export class TransactionalProducer {
  private queue: Promise<unknown> = Promise.resolve();
  private stopping = false;

  constructor(private readonly parts: TransactionalProducerParts) {}

  transaction<T>(work: (tx: LightTransaction) => Promise<T>): Promise<T> {
    if (this.stopping) return Promise.reject(new LightError('ERR10013', { component: 'TransactionalProducer' }));
    const { interceptors, transactionalId } = this.parts;
    const run = this.queue.then(() => interceptors.wrap({ transactionalId }, () => this.commitOrAbort(work)));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async commitOrAbort<T>(work: (tx: LightTransaction) => Promise<T>): Promise<T> {
    const { producer, path, sendOptions, transactionalId } = this.parts;
    const transaction = await producer.transaction();
    let result: T;
    try {
      result = await work(new LightTransaction(transaction, path, sendOptions));
    } catch (error) {
      await transaction.abort().catch(() => undefined);
      // A failure of the caller's own records (validation, security) keeps its code; anything else is ERR12001.
      throw error instanceof LightError ? error : LightError.wrap(error, 'ERR12001', { transactionalId });
    }
    try {
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch(() => undefined);
      throw LightError.wrap(error, 'ERR12001', { transactionalId });
    }
    return result;
  }

  markStopping(): Promise<unknown> {
    this.stopping = true;
    return this.queue;
  }
}
