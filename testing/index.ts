/**
 * light-kafka/testing: a service's handler chains run in-process, without a broker — as Kafka Streams'
 * TopologyTestDriver and Spring's test support let users test without Kafka. The same config folder and
 * handler.yml as the service; the Kafka transport writes to memory; consumed records go through the consume chain
 * and the failure policy of kafka-consumer.yml (retries without waiting, dead letters kept in memory).
 *
 *   const kit = await ChainTestKit.create({ configDir: 'config' });
 *   await kit.produce('orders', { key: 'o1', value: { id: 'o1' } }, { headers: { Authorization: `Bearer ${token}` } });
 *   kit.written('orders');                          // what reached the transport: key, value, headers
 *   const result = await kit.consume('orders', [{ key: 'o1', value: { id: 'o1' }, headers: { ... } }], handler);
 *   result.processed; result.deadLetters;           // what reached the business handler, and the dead-letter path
 */
import { KAFKA_CONSUMER_SCHEMA, type KafkaConsumerYml } from '../core/kafka/client-config.js';
import { ConsumeChains, type BusinessHandler } from '../core/chain/consume-chains.js';
import { errorCodeOf, type DeadLetterInput } from '../core/kafka/dead-letter.js';
import type { DriverMessage } from '../core/kafka/driver.js';
import { LightProducer } from '../core/kafka/producer.js';
import { consumedRecord, RecordProcessor, type RecordOutcome } from '../core/kafka/record-processor.js';
import { SERVICE_PARTS } from '../core/service.js';
import type { Exchange, OutgoingRecord, RecordMetadata } from '../core/exchange.js';
import { RecordHeaders, type HeaderValue } from '../core/headers.js';
import { contextFromRecord, runWithContext } from '../core/request-context.js';
import type { BatchWriter, TransportMessage } from '../core/transport.js';
import { LightService, type LightServiceOptions } from '../index.js';
import { TaskSchedules, type ProcessorRecordMetadata } from '../core/streams/processor-api.js';
import { storeKeyOf } from '../core/streams/stores.js';
import { Registry } from 'prom-client';
import { createLogger, type Logger } from '../core/logger.js';
import type { ProcessorContext, ProcessorStore, PunctuationContext, Punctuator, SourceNode, StreamRecord, Topology } from '../core/streams/topology.js';
import { droppedRecordsCounter, type DropReason } from '../core/streams/dropped-records.js';
import { extractTimestamp } from '../core/streams/timestamps.js';

/** A record as the transport wrote it: bytes decoded for reading (JSON when it parses, else text). */
export interface WrittenRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: unknown;
  rawValue: Buffer | null;
  headers: Record<string, string | string[]>;
}

/** A record to consume: a value as an object (written as JSON), a string, or bytes. */
export interface InputRecord {
  key?: string | Buffer | null;
  value: unknown;
  headers?: Record<string, HeaderValue | HeaderValue[]>;
  partition?: number;
  timestamp?: string;
}

export interface DeadLetter {
  topic: string;
  offset: string;
  code: string;
  error: unknown;
  attempts: number;
  key: string | null;
  value: string | null;
  headers: Record<string, string | string[]>;
}

export interface ConsumeResult {
  /** The exchanges the business handler was given, in order (retries included). */
  processed: Exchange[];
  deadLetters: DeadLetter[];
  outcomes: RecordOutcome[];
}

function decode(value: Buffer | null): unknown {
  if (value === null) return null;
  const text = value.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function toBytes(value: unknown): Buffer | null {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value)) return value;
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
}

export class ChainTestKit {
  private readonly topics = new Map<string, TransportMessage[]>();
  private readonly producer: LightProducer;
  private readonly consumerYml: KafkaConsumerYml;

  private constructor(readonly service: LightService) {
    const parts = service[SERVICE_PARTS]();
    const write: BatchWriter = async (batches) =>
      batches.map(({ topic, messages }) => {
        const log = this.topics.get(topic) ?? [];
        this.topics.set(topic, log);
        const baseOffset = String(log.length);
        log.push(...messages);
        return { topic, partition: 0, baseOffset };
      });
    this.producer = new LightProducer({ connect: async () => undefined, disconnect: async () => undefined, write }, parts.path);
    this.consumerYml = service.config.load<KafkaConsumerYml>('kafka-consumer', { schema: KAFKA_CONSUMER_SCHEMA }).config;
  }

  /** The service of `configDir` (nothing connects: the clients are never started). */
  static async create(options: LightServiceOptions & { configDir: string }): Promise<ChainTestKit> {
    const env = { KAFKA_BROKERS: '127.0.0.1:1', ...(options.env ?? process.env) };
    return new ChainTestKit(await LightService.create({ ...options, env }));
  }

  /**
   * Runs records through the topic's produce chain, as `service.producer.send` does, inside a request context
   * holding `headers` (e.g. the caller's Authorization and X-Correlation-Id). Throws what the chain throws.
   */
  produce(topic: string, records: OutgoingRecord | OutgoingRecord[], options: { headers?: Record<string, HeaderValue> } = {}): Promise<RecordMetadata | RecordMetadata[]> {
    const context = contextFromRecord(RecordHeaders.from(options.headers ?? {}), this.service.propagatedHeaders);
    return runWithContext(context, () => (Array.isArray(records) ? this.producer.send(topic, records) : this.producer.send(topic, records)));
  }

  /** What the transport wrote to a topic, in order. */
  written(topic: string): WrittenRecord[] {
    return (this.topics.get(topic) ?? []).map((message, index) => ({
      topic,
      partition: message.partition ?? 0,
      offset: String(index),
      key: message.key?.toString('utf8') ?? null,
      value: decode(message.value),
      rawValue: message.value,
      headers: message.headers.toJSON(),
    }));
  }

  /**
   * Runs records through the topic's consume chain and `handler` under kafka-consumer.yml's failure policy
   * (retries without waiting); records that fail for good are kept as dead letters with their code and headers.
   */
  async consume(topic: string, records: InputRecord[], handler: BusinessHandler): Promise<ConsumeResult> {
    const parts = this.service[SERVICE_PARTS]();
    const deadLetters: DeadLetter[] = [];
    const processor = new RecordProcessor({
      policy: this.consumerYml,
      deadLetters: {
        write: async (input: DeadLetterInput) => {
          const { record, error, attempts } = input;
          deadLetters.push({ topic: record.topic, offset: record.offset, code: errorCodeOf(error), error, attempts, key: record.key?.toString('utf8') ?? null, value: record.value?.toString('utf8') ?? null, headers: record.headers.toJSON() });
          return `${record.topic}${this.consumerYml.deadLetterTopicExt}`;
        },
      },
      groupId: 'light-kafka-testing',
      propagatedHeaders: this.service.propagatedHeaders,
      logger: this.service.logger,
      sleep: async () => undefined,
    });
    const processed: Exchange[] = [];
    const chains = new ConsumeChains(parts.table);
    chains.register(topic, async (exchange) => {
      processed.push(exchange);
      await handler(exchange);
    });
    const route = chains.routeFor(topic)!;
    const control = { isRunning: () => true, heartbeat: async () => undefined };
    const outcomes: RecordOutcome[] = [];
    for (const [index, input] of records.entries()) {
      const message: DriverMessage = {
        key: input.key === undefined || input.key === null ? null : Buffer.isBuffer(input.key) ? input.key : Buffer.from(input.key),
        value: toBytes(input.value),
        timestamp: input.timestamp ?? String(Date.now()),
        offset: String(index),
        headers: input.headers ?? {},
      };
      outcomes.push(await processor.process(consumedRecord(topic, input.partition ?? 0, message), route, control));
    }
    return { processed, deadLetters, outcomes };
  }

  /** Runs the close hooks of the service's handlers (audit files flushed, tracers closed). */
  async close(): Promise<void> {
    await this.service.stop();
  }
}

/**
 * A LightStreams topology run in-process, record by record, with in-memory stores: feed input records to a
 * source topic, read what the topology sent to each output topic and what its stores hold (as Kafka Streams'
 * TopologyTestDriver). It runs the topology itself: chains, transactions and changelogs are the broker's part.
 * Partitions are not modelled: every record meets every store, as one task would see one key. Stream time comes
 * from the piped records' timestamps (after their source's TimestampExtractor): piping a record with a later
 * timestamp advances it, which closes windows and emits suppressed results; restart() starts the topology over on
 * the same stores, as a restart restoring them from their changelogs would. Joins run as on a broker (their window
 * stores and join time are the one task's); piping the topic of a global table updates its store (a null value
 * deletes) without moving stream time, so a test fills a global table first, then pipes the stream.
 *
 *   const builder = new StreamsBuilder('app');
 *   accountCommandProcessor(builder, topics);
 *   const driver = new TopologyTestDriver(builder.build());
 *   driver.pipe('account-commands', command('OpenAccount', ...), 'acc-1');
 *   driver.output('account-events'); driver.store('accounts').get('acc-1');
 */
export class TopologyTestDriver {
  private readonly stores = new Map<string, Map<string, unknown>>();
  private readonly outputs = new Map<string, { key: unknown; value: unknown; timestamp: string }[]>();
  private context: ProcessorContext;
  /**
   * Records sent to a topic the topology reads, delivered in order once the record that sent them is done: to a
   * source, or to a global table (`global`: its store).
   */
  private readonly queue: { source?: SourceNode; topic: string; global?: string; record: StreamRecord<unknown, unknown> }[] = [];
  /** The global tables' stores, by store name; fed by piping their topics (or by the topology sending to them). */
  private readonly globals = new Map<string, Map<string, unknown>>();
  private wallClock: number;
  /** Stream time: the newest timestamp of the records piped in or delivered to the topology's own sources. */
  private observedTime = -1;
  /** The Processor API's punctuation schedules and close hooks (KStream.process). */
  private readonly schedules = new TaskSchedules({ streamTime: () => this.observedTime, wallClockTime: () => this.wallClock });
  /** The record being processed, as a processor's recordMetadata() sees it (offsets count the records piped per topic). */
  private currentInput: ProcessorRecordMetadata | undefined;
  private readonly offsets = new Map<string, number>();
  /** Per reason and store: the records the topology dropped (see ProcessorContext.recordDropped). */
  private readonly dropped = new Map<string, number>();
  /** Per punctuator: the wall-clock time it last ran. */
  private readonly punctuated = new Map<Punctuator, number>();
  /** The metrics punctuations register (e.g. light_kafka_sagas_stuck). */
  readonly metrics = new Registry();

  private readonly logger: Logger;

  /**
   * `wallClockMs`: the driver's wall-clock time at the start (default now); advanceWallClockTime moves it. `logger`:
   * what the topology's punctuations log to (default the LOG_LEVEL logger on stdout).
   */
  constructor(
    private readonly topology: Topology,
    options: { wallClockMs?: number; logger?: Logger } = {},
  ) {
    this.wallClock = options.wallClockMs ?? Date.now();
    this.logger = options.logger ?? createLogger();
    for (const punctuator of topology.punctuators) {
      this.punctuated.set(punctuator, this.wallClock);
      punctuator.init?.({ metricsRegistry: this.metrics, logger: this.logger });
    }
    this.context = this.newContext();
  }

  /** A processor context of its own (a restart gives the topology a new one: nothing it kept per task survives). */
  private newContext(): ProcessorContext {
    const views = new Map<string, ProcessorStore>();
    return {
      store: (name) => {
        let view = views.get(name);
        if (!view) views.set(name, (view = this.storeOf(name)));
        return view;
      },
      send: (topic, record) => {
        const list = this.outputs.get(topic) ?? [];
        this.outputs.set(topic, list);
        list.push({ key: record.key, value: record.value, timestamp: record.timestamp });
        // Records sent to a topic the topology also reads (repartition topics, a feedback loop, a saga's
        // participant in the same topology) go on through it after the current record, as they would over Kafka.
        const source = this.sourceOf(topic);
        if (source) this.queue.push({ source, topic, record });
        const global = this.globalOf(topic);
        if (global) this.queue.push({ topic, global, record });
      },
      wallClockTime: () => this.wallClock,
      streamTime: () => this.observedTime,
      entries: (name) => this.store(name).all().map(([key, value]) => ({ key, value })),
      processorRuntime: () => ({ taskId: 'test-driver-0', schedules: this.schedules, recordMetadata: () => this.currentInput }),
      recordDropped: (reason, store) => this.recordDropped(reason, store),
    };
  }

  private recordDropped(reason: DropReason, store: string | undefined): void {
    const id = `${reason}|${store ?? ''}`;
    this.dropped.set(id, (this.dropped.get(id) ?? 0) + 1);
    droppedRecordsCounter(this.metrics).inc({ serviceId: 'test-driver', reason, store: store ?? '' });
  }

  /** The number of records (window updates, for `expired-window`) the topology dropped: for a reason and store, or all. */
  droppedRecords(reason?: DropReason, store?: string): number {
    let count = 0;
    for (const [id, n] of this.dropped) {
      const [droppedFor, droppedIn] = id.split('|') as [string, string];
      if ((reason === undefined || droppedFor === reason) && (store === undefined || droppedIn === store)) count += n;
    }
    return count;
  }

  /**
   * Starts the topology over on the same stores, as a service restarted on its restored stores: what the topology
   * and the task kept in memory (the task's stream time, per-task caches) starts anew; what is in the stores
   * (a windowed aggregation's stream time, a suppression's pending results) stays.
   */
  restart(): this {
    // The processors of the old run close, as their tasks would; new ones are made on the new context.
    this.schedules.close();
    this.observedTime = -1;
    this.context = this.newContext();
    return this;
  }

  private storeOf(name: string): ProcessorStore {
    const range = (map: Map<string, unknown>) => (start?: string, end?: string) =>
      [...map]
        .filter(([key]) => (start === undefined || key >= start) && (end === undefined || key < end))
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([key, value]) => ({ key, value }));
    if (this.topology.globalTables.some((table) => table.store === name)) {
      // Tasks read a global table, never write it.
      const map = this.globalEntries(name);
      const refuse = (): never => {
        throw new Error(`global table ${name} is read-only: tasks read it, its topic writes it`);
      };
      return { get: (key) => map.get(storeKeyOf(key)), put: refuse, delete: refuse, range: range(map) };
    }
    if (!this.topology.stores.has(name)) throw new Error(`no store ${name} in the topology`);
    let entries = this.stores.get(name);
    if (!entries) this.stores.set(name, (entries = new Map()));
    const map = entries;
    return {
      get: (key) => map.get(storeKeyOf(key)),
      put: (key, value) => void (value === null || value === undefined ? map.delete(storeKeyOf(key)) : map.set(storeKeyOf(key), value)),
      delete: (key) => void map.delete(storeKeyOf(key)),
      range: range(map),
    };
  }

  private globalEntries(store: string): Map<string, unknown> {
    let entries = this.globals.get(store);
    if (!entries) this.globals.set(store, (entries = new Map()));
    return entries;
  }

  private sourceOf(topic: string): SourceNode | undefined {
    return this.topology.sources.find((source) => (typeof source.topic === 'string' ? source.topic === topic : source.topic.test(topic)));
  }

  /** The store of the global table read from `topic`, if one is. */
  private globalOf(topic: string): string | undefined {
    return this.topology.globalTables.find((table) => table.topic === topic)?.store;
  }

  /** A record of a global table's topic: into its store (a null value deletes), as a global table's reader does. */
  private applyGlobal(store: string, key: unknown, value: unknown): void {
    if (key === null || key === undefined) return;
    const entries = this.globalEntries(store);
    if (value === null || value === undefined) entries.delete(storeKeyOf(key));
    else entries.set(storeKeyOf(key), value);
  }

  /**
   * Feeds one record to the source that reads `topic` (and then what it sent to the topology's own sources). The topic
   * of a global table updates its store instead (a null value deletes the key); it does not move stream time.
   */
  pipe(topic: string, value: unknown, key: unknown = null, timestamp = String(Date.now()), headers: Record<string, string> = {}): this {
    const global = this.globalOf(topic);
    if (global) {
      this.applyGlobal(global, key, value);
      return this;
    }
    const source = this.sourceOf(topic);
    if (!source) throw new Error(`no source of the topology reads ${topic}`);
    this.processInput(source, topic, { key, value, timestamp }, headers);
    return this.drain();
  }

  /**
   * One input record through its source: its timestamp extracted (skipped, counted, when not valid), stream time
   * moved on, then the stream-time punctuations due.
   */
  private processInput(source: SourceNode, topic: string, record: StreamRecord<unknown, unknown>, headers: Record<string, string>): void {
    const time = extractTimestamp(source, record, this.observedTime);
    if (time === undefined) {
      this.recordDropped('invalid-timestamp', undefined);
      return;
    }
    this.observedTime = Math.max(this.observedTime, time);
    const offset = this.offsets.get(topic) ?? 0;
    this.offsets.set(topic, offset + 1);
    this.currentInput = { topic, partition: 0, offset: String(offset), headers };
    try {
      source.process({ ...record, timestamp: String(time) }, this.context);
    } finally {
      this.currentInput = undefined;
    }
    this.schedules.runStreamTime();
  }

  /**
   * Moves the driver's wall clock forward and runs the punctuations due by then (as Kafka Streams' driver does):
   * each punctuator whose interval passed since it last ran, once, at the new time.
   */
  advanceWallClockTime(ms: number): this {
    this.wallClock += ms;
    for (const punctuator of this.topology.punctuators) {
      if (this.wallClock - this.punctuated.get(punctuator)! < punctuator.intervalMs) continue;
      this.punctuated.set(punctuator, this.wallClock);
      const context: PunctuationContext = {
        ...this.context,
        now: this.wallClock,
        taskId: 'test-driver-0',
        partition: 0,
        metricsRegistry: this.metrics,
        logger: this.logger,
        entries: (name) => this.store(name).all().map(([key, value]) => ({ key, value })),
      };
      for (const unit of punctuator.due(context)) unit.run();
      this.drain();
    }
    for (const unit of this.schedules.dueWallClock(this.wallClock)) {
      unit.run();
      this.drain();
    }
    return this;
  }

  /** The driver's wall-clock time (ms). */
  get wallClockTime(): number {
    return this.wallClock;
  }

  private drain(): this {
    for (let next = this.queue.shift(); next; next = this.queue.shift()) {
      if (next.global !== undefined) this.applyGlobal(next.global, next.record.key, next.record.value);
      else this.processInput(next.source!, next.topic, next.record, {});
    }
    return this;
  }

  /** Closes the topology's processors (Processor.close), as a task closing would. */
  close(): void {
    this.schedules.close();
  }

  /** Stream time (ms): the newest timestamp of the records the topology processed; -1 before the first. */
  get streamTime(): number {
    return this.observedTime;
  }

  /** What the topology sent to a topic, in order. */
  output(topic: string): { key: unknown; value: unknown; timestamp: string }[] {
    return this.outputs.get(topic) ?? [];
  }

  /** A store's entries (a task store's, or a global table's): get(key), all(). */
  store<V = unknown>(name: string): { get(key: unknown): V | undefined; all(): [string, V][] } {
    const entries = (this.topology.globalTables.some((table) => table.store === name) ? this.globals.get(name) : this.stores.get(name)) ?? new Map<string, unknown>();
    return { get: (key) => entries.get(storeKeyOf(key)) as V | undefined, all: () => [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) as [string, V][] };
  }
}
