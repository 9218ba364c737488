import type { Producer, Transaction } from 'kafkajs';
import type { Span, Tracer } from 'opentracing';
import { ContextValue } from './attachments.js';
import { currentContext, runWithContext, type RequestContext } from './request-context.js';
import { LightError } from './errors/light-error.js';
import { Exchange, type OutgoingRecord, type RecordMetadata } from './exchange.js';
import { RecordHeaders } from './headers.js';
import type { ProduceChains } from './produce-chains.js';
import { SEND_BATCH, SendBatch, type BatchSender } from '../handlers/kafka/send-batch.js';

function toExchange(topic: string, record: OutgoingRecord): Exchange {
  return new Exchange({
    direction: 'produce',
    topic,
    key: record.key ?? null,
    value: record.value,
    headers: RecordHeaders.from(record.headers),
    ...(record.partition !== undefined ? { partition: record.partition } : {}),
    ...(record.timestamp !== undefined ? { timestamp: record.timestamp } : {}),
  });
}

/**
 * Runs every record through its produce chain; the transport at the end of each chain adds the record to one
 * batch, sent in one request. If any record fails in its chain, nothing is sent and the first failure is thrown.
 */
async function sendThroughChains(chains: ProduceChains, topic: string, records: OutgoingRecord[], sender: BatchSender): Promise<RecordMetadata[]> {
  if (records.length === 0) return [];
  const chain = chains.chainFor(topic);
  const batch = new SendBatch(records.length, sender);
  const exchanges = records.map((record) => toExchange(topic, record));
  const outcomes = await Promise.allSettled(
    exchanges.map(async (exchange) => {
      exchange.attachments.set(SEND_BATCH, batch);
      try {
        await chain(exchange, async () => undefined);
      } catch (error) {
        batch.settleIfNotArrived(exchange, true);
        throw error;
      }
      batch.settleIfNotArrived(exchange, false);
    }),
  );
  const failures = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected').map((outcome) => outcome.reason as unknown);
  if (failures.length > 0) {
    // The records that were waiting for the batch fail with ERR12003; report the cause instead.
    throw failures.find((error) => !(error instanceof LightError && error.code === 'ERR12003')) ?? failures[0];
  }
  return exchanges.map((exchange) => exchange.metadata ?? { topic, partition: -1 });
}

/** Sends records through the produce chain of their topic. */
export class LightProducer {
  private stopping = false;

  constructor(
    private readonly producer: Producer,
    private readonly chains: ProduceChains,
    private readonly sendOptions: { acks: number; timeout?: number; compression?: number },
  ) {}

  send(topic: string, record: OutgoingRecord): Promise<RecordMetadata>;
  send(topic: string, records: OutgoingRecord[]): Promise<RecordMetadata[]>;
  async send(topic: string, input: OutgoingRecord | OutgoingRecord[]): Promise<RecordMetadata | RecordMetadata[]> {
    if (this.stopping) throw new LightError('ERR10013', { component: 'LightProducer' });
    const records = Array.isArray(input) ? input : [input];
    const results = await sendThroughChains(this.chains, topic, records, (topicMessages) =>
      this.producer.sendBatch({ topicMessages, ...this.sendOptions }),
    );
    return Array.isArray(input) ? results : results[0]!;
  }

  /** Refuses new sends; the sends already under way finish. */
  markStopping(): void {
    this.stopping = true;
  }
}

/** One Kafka transaction: records sent through it are committed all together or not at all. */
export class LightTransaction {
  constructor(
    private readonly transaction: Transaction,
    private readonly chains: ProduceChains,
    private readonly sendOptions: { timeout?: number; compression?: number },
  ) {}

  send(topic: string, record: OutgoingRecord): Promise<RecordMetadata>;
  send(topic: string, records: OutgoingRecord[]): Promise<RecordMetadata[]>;
  async send(topic: string, input: OutgoingRecord | OutgoingRecord[]): Promise<RecordMetadata | RecordMetadata[]> {
    const records = Array.isArray(input) ? input : [input];
    const results = await sendThroughChains(this.chains, topic, records, (topicMessages) =>
      this.transaction.sendBatch({ topicMessages, acks: -1, ...this.sendOptions }),
    );
    return Array.isArray(input) ? results : results[0]!;
  }

  /** Commits consumed offsets inside the transaction (consume-transform-produce, exactly once). */
  sendOffsets(offsets: Parameters<Transaction['sendOffsets']>[0]): Promise<void> {
    return this.transaction.sendOffsets(offsets);
  }
}

/**
 * A producer with a transactional.id. `transaction(work)` commits what `work` sent when it returns and aborts
 * it when it throws; read_committed consumers never see aborted records. Transactions run one at a time.
 */
export class TransactionalProducer {
  private queue: Promise<unknown> = Promise.resolve();
  private stopping = false;

  constructor(
    private readonly producer: Producer,
    private readonly chains: ProduceChains,
    private readonly transactionalId: string,
    private readonly sendOptions: { timeout?: number; compression?: number },
    private readonly tracer: () => Tracer | undefined = () => undefined,
  ) {}

  transaction<T>(work: (tx: LightTransaction) => Promise<T>): Promise<T> {
    if (this.stopping) return Promise.reject(new LightError('ERR10013', { component: 'TransactionalProducer' }));
    const run = this.queue.then(() => this.runOne(work));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async runOne<T>(work: (tx: LightTransaction) => Promise<T>): Promise<T> {
    const span = this.startTransactionSpan();
    try {
      const result = await (span ? runWithContext(span.context, () => this.commitOrAbort(work)) : this.commitOrAbort(work));
      span?.span.finish();
      return result;
    } catch (error) {
      span?.span.setTag('error', true).log({ event: 'error', message: error instanceof Error ? error.message : String(error) }).finish();
      throw error;
    }
  }

  /** With a tracer: one span for the transaction, the parent of each record's producer span. */
  private startTransactionSpan(): { span: Span; context: RequestContext } | undefined {
    const tracer = this.tracer();
    if (!tracer) return undefined;
    const outer = currentContext();
    const parent = outer?.values.get(ContextValue.span) as Span | undefined;
    const span = tracer.startSpan(`transaction ${this.transactionalId}`, parent ? { childOf: parent } : {});
    span.addTags({ 'messaging.system': 'kafka', 'messaging.kafka.transactional_id': this.transactionalId });
    const values = new Map(outer?.values ?? []);
    values.set(ContextValue.span, span);
    return { span, context: { headers: outer?.headers.clone() ?? new RecordHeaders(), values } };
  }

  private async commitOrAbort<T>(work: (tx: LightTransaction) => Promise<T>): Promise<T> {
    const transaction = await this.producer.transaction();
    let result: T;
    try {
      result = await work(new LightTransaction(transaction, this.chains, this.sendOptions));
    } catch (error) {
      await transaction.abort().catch(() => undefined);
      // A failure of the caller's own records (validation, security) keeps its code; anything else is ERR12001.
      throw error instanceof LightError ? error : LightError.wrap(error, 'ERR12001', { transactionalId: this.transactionalId });
    }
    try {
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch(() => undefined);
      throw LightError.wrap(error, 'ERR12001', { transactionalId: this.transactionalId });
    }
    return result;
  }

  markStopping(): Promise<unknown> {
    this.stopping = true;
    return this.queue;
  }
}
