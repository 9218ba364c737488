import { runIgnoringFailure, type BatchScope, type Chain } from '../chain/chain.js';
import type { RecordFailure } from '../chain/handler.js';
import type { ProduceChains } from '../chain/produce-chains.js';
import { LightError } from '../errors/light-error.js';
import { Exchange, type OutgoingRecord, type RecordMetadata } from '../exchange.js';
import { RecordHeaders } from '../headers.js';
import { currentContext } from '../request-context.js';
import { SendCall } from '../send-call.js';
import type { TransactionInterceptors } from '../transactions.js';
import { SEND_CALL, type BatchWriter } from '../transport.js';
import type { DriverProducer, DriverTransaction, DriverTransactionalProducer, TopicOffsets } from './driver.js';

/** How records enter the produce chains: the chains, and the extra headers copied from the unit of work. */
export interface ProducePath {
  chains: ProduceChains;
  /** service.yml propagatedHeaders: no handler carries them, so each produced record takes them from the context. */
  extraHeaders: readonly string[];
}

function toExchange(topic: string, record: OutgoingRecord, extraHeaders: readonly string[], call: SendCall): Exchange {
  const headers = RecordHeaders.from(record.headers);
  if (extraHeaders.length > 0) {
    const context = currentContext();
    for (const name of extraHeaders) {
      const value = context?.headers.getBuffer(name);
      if (value && !headers.has(name)) headers.set(name, value);
    }
  }
  const exchange = new Exchange({
    direction: 'produce',
    topic,
    key: record.key ?? null,
    value: record.value,
    headers,
    ...(record.partition !== undefined ? { partition: record.partition } : {}),
    ...(record.timestamp !== undefined ? { timestamp: record.timestamp } : {}),
  });
  exchange.attachments.set(SEND_CALL, call);
  return exchange;
}

/**
 * Runs every record through its produce chain; the transport at the end of each chain queues the record in one
 * send call, written in one request. If any record fails in its chain, nothing is sent and the first failure is
 * thrown. An all-phased chain runs in stages: every record's befores, one write, every record's afters.
 */
export async function sendThroughChains(path: ProducePath, topic: string, records: OutgoingRecord[], writer: BatchWriter): Promise<RecordMetadata[]> {
  if (records.length === 0) return [];
  const chain = path.chains.chainFor(topic);
  const call = new SendCall(records.length, writer);
  const exchanges = records.map((record) => toExchange(topic, record, path.extraHeaders, call));
  const scope = await chain.beginBatch(exchanges);
  try {
    if (chain.allPhased) await sendStaged(chain, exchanges, scope, call);
    else await sendRecordByRecord(chain, exchanges, scope, call);
  } finally {
    await chain.endBatch(exchanges, scope);
  }
  return exchanges.map((exchange) => exchange.metadata ?? { topic, partition: -1 });
}

async function sendStaged(chain: Chain, exchanges: Exchange[], scope: BatchScope, call: SendCall): Promise<void> {
  // The first failure of a record is what the caller gets.
  let failure: RecordFailure | undefined;
  const passed: Exchange[] = [];
  for (const exchange of exchanges) {
    try {
      const pending = chain.runBefores(exchange, scope);
      if (pending) await pending;
      passed.push(exchange);
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure) {
    // Nothing is written; the records that passed learn why in their afters.
    for (const exchange of passed) await runIgnoringFailure(() => chain.runAfters(exchange, scope, { error: new LightError('ERR12003', { topic: exchange.topic }) }));
    throw failure.error;
  }
  let writeFailure: RecordFailure | undefined;
  try {
    await call.flush();
  } catch (error) {
    writeFailure = { error };
  }
  for (const exchange of exchanges) {
    try {
      const pending = chain.runAfters(exchange, scope, writeFailure);
      if (pending) await pending;
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure) throw failure.error;
}

async function sendRecordByRecord(chain: Chain, exchanges: Exchange[], scope: BatchScope, call: SendCall): Promise<void> {
  const terminal = (exchange: Exchange): Promise<void> => call.whenWritten(exchange);
  const outcomes = await Promise.allSettled(
    exchanges.map(async (exchange) => {
      try {
        await chain.run(exchange, terminal, scope);
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
}

/** Sends records through the produce chain of their topic. */
export class LightProducer {
  private stopping = false;
  private readonly writer: BatchWriter;

  constructor(
    producer: DriverProducer,
    private readonly path: ProducePath,
  ) {
    this.writer = producer.write;
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
  constructor(
    private readonly transaction: DriverTransaction,
    private readonly path: ProducePath,
  ) {}

  send(topic: string, record: OutgoingRecord): Promise<RecordMetadata>;
  send(topic: string, records: OutgoingRecord[]): Promise<RecordMetadata[]>;
  async send(topic: string, input: OutgoingRecord | OutgoingRecord[]): Promise<RecordMetadata | RecordMetadata[]> {
    const records = Array.isArray(input) ? input : [input];
    const results = await sendThroughChains(this.path, topic, records, this.transaction.write);
    return Array.isArray(input) ? results : results[0]!;
  }

  /**
   * Commits consumed offsets (of the next record to read) inside the transaction: consume-transform-produce,
   * exactly once. They are the service consumer group's unless `consumerGroupId` names another (kafkajs only).
   */
  sendOffsets(offsets: { topics: TopicOffsets[]; consumerGroupId?: string }): Promise<void> {
    return this.transaction.sendOffsets(offsets);
  }
}

export interface TransactionalProducerParts {
  producer: DriverTransactionalProducer;
  path: ProducePath;
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
    const { interceptors } = this.parts;
    const { transactionalId } = this.parts.producer;
    const run = this.queue.then(() => interceptors.wrap({ transactionalId }, () => this.commitOrAbort(work)));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async commitOrAbort<T>(work: (tx: LightTransaction) => Promise<T>): Promise<T> {
    const { producer, path } = this.parts;
    const { transactionalId } = producer;
    const transaction = await producer.begin();
    let result: T;
    try {
      result = await work(new LightTransaction(transaction, path));
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
