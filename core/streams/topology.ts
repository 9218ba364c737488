import { LightError } from '../errors/light-error.js';
import type { Registry } from 'prom-client';
import type { Logger } from '../logger.js';
import type { Event } from '../messages/envelope.js';
import { aggregateOfProcessedKey, commandStep, processedStoreOf, processedSweeper, type CommandProcessorOptions } from './command-processor.js';
import type { Cancellable, Processor, ProcessorApiContext, ProcessorKeyValueStore, ProcessorRecord, ProcessorRuntime, ProcessorSupplier, ProcessorWindowStore, ProcessorWindowStoreSpec } from './processor-api.js';
import type { DropReason } from './dropped-records.js';
import type { TimestampExtractor } from './timestamps.js';
import { sessionWindowStep, slidingWindowStep, suppressStep, timeWindowStep, type AggregationOptions } from './window-aggregations.js';
import { sessionRoutingKey, sweepExpired, windowRoutingKey, WindowStore } from './window-store.js';
import { closesAfterMs, retentionOf, SessionWindows, SlidingWindows, TimeWindows, windowKey, type Suppressed, type WindowMaterialized, type Windowed, type WindowSpec } from './windows.js';
import { GlobalKTable, type GlobalTableDefinition } from './global-tables.js';
import {
  JoinWindows,
  streamGlobalJoin,
  streamJoinStoreNames,
  streamStreamJoin,
  streamTableJoin,
  tableJoinTimestampsStore,
  tableTableJoin,
  timestampsRoutingKey,
  unmatchedRoutingKey,
  windowStoreRoutingKey,
  withOldValue,
  type AnyJoiner,
  type StreamJoined,
} from './joins.js';

export { TimeWindows, SlidingWindows, SessionWindows, windowKey };

/**
 * The topology DSL, in the spirit of Kafka Streams' StreamsBuilder: a graph of processing nodes from source
 * topics to sinks and state stores, built once in TypeScript before the service starts. A record flows through
 * the graph synchronously; stores are read and written through the task that owns the record's partition.
 *
 * Sources that share state (a store fed by several of them, a stream joined with a table) form one task group:
 * partition p of each of them is processed by the same task, so their topics must have the same partition count
 * (co-partitioning, as in Kafka Streams).
 */

/** A record inside a topology: its key, its value, and when it happened (the input record's timestamp, ms). */
export interface StreamRecord<K, V> {
  key: K;
  value: V;
  timestamp: string;
  /**
   * The propagated headers (Authorization, X-Correlation-Id, trace context, ...) an output of a punctuation is sent
   * under: it has no input record whose request context it could inherit. Ignored on the outputs of a record.
   */
  context?: Record<string, string>;
}

/** A key-value store as a processing node sees it: reads see the writes of the records before, committed or not. */
export interface ProcessorStore {
  get(key: unknown): unknown;
  put(key: unknown, value: unknown): void;
  delete(key: unknown): void;
  /**
   * The entries with keys from `start` (inclusive) to `end` (exclusive), in key order, as the record sees them
   * (committed, then the writes not committed yet). The stores of a StreamTask and of the TopologyTestDriver have it;
   * window operations need it.
   */
  range?(start?: string, end?: string): { key: string; value: unknown }[];
}

/** What a node reaches while it processes one record: the task's stores, and the outputs of the record. */
export interface ProcessorContext {
  store(name: string): ProcessorStore;
  /**
   * Sends a record to a topic (through its produce chain, at the task's commit). `onRefused`: when the produce
   * chain refuses one of this input record's outputs (a validation or security error, not a broker failure), the
   * record's store writes and outputs are dropped and the records `onRefused` returns are sent instead.
   */
  send(topic: string, record: StreamRecord<unknown, unknown>, onRefused?: RefusedOutputs): void;
  /** The wall-clock time (ms) a processor goes by (deadlines, timeouts): Date.now() unless a test driver sets it. */
  wallClockTime?(): number;
  /**
   * Stream time (ms): the newest timestamp among the records the task has processed (as Kafka Streams defines it:
   * it never goes back; a late record does not move it). -1 before the task's first record.
   */
  streamTime(): number;
  /** The task's Processor API runtime (its punctuation schedules, the input record's metadata); see KStream.process. */
  processorRuntime?(): ProcessorRuntime;
  /** Every entry of a store as the task sees it (committed, then its uncommitted writes), in key order. */
  entries?(store: string): { key: string; value: unknown }[];
  /**
   * Reports a record (or one window update of it) the topology drops on purpose: a late record, a null key, an
   * invalid timestamp. Counted in light_kafka_streams_dropped_records_total{serviceId, reason, store}.
   */
  recordDropped?(reason: DropReason, store?: string): void;
}

/** What a punctuation reaches: a task's stores and outputs, the wall-clock time, and every entry of a store. */
export interface PunctuationContext extends ProcessorContext {
  readonly now: number;
  readonly taskId: string;
  readonly partition: number;
  /** The store's entries as the task sees them (committed, then its uncommitted writes), in key order. */
  entries(store: string): { key: string; value: unknown }[];
  readonly metricsRegistry: Registry;
  readonly logger: Logger;
}

/**
 * Work on wall-clock time (Kafka Streams' WALL_CLOCK_TIME punctuation): every `intervalMs`, on each open task of the
 * sources' group, `due` names the units of work due now; each unit runs on its own — its store writes and outputs
 * kept when it succeeds, dropped (logged, tried again at the next punctuation) when it throws or an output is
 * refused — and commits with the task's next commit (in its transaction under exactly_once).
 */
export interface Punctuator {
  sources: readonly SourceNode[];
  intervalMs: number;
  due(context: PunctuationContext): { name: string; run: () => void }[];
  /** Called once before the streams process anything, with the service's metrics registry and logger. */
  init?(services: { metricsRegistry: Registry; logger: Logger }): void;
}

/** What an input record writes instead when the produce chain refuses one of its outputs (see ProcessorContext.send). */
export type RefusedOutputs = (error: LightError) => { topic: string; record: StreamRecord<unknown, unknown> }[];

type AnyRecord = StreamRecord<unknown, unknown>;

/** One step of the graph. */
abstract class Node {
  readonly children: Node[] = [];
  abstract process(record: AnyRecord, context: ProcessorContext): void;

  protected forward(record: AnyRecord, context: ProcessorContext): void {
    for (const child of this.children) child.process(record, context);
  }
}

class FunctionNode extends Node {
  constructor(private readonly step: (record: AnyRecord, emit: (record: AnyRecord) => void, context: ProcessorContext) => void) {
    super();
  }

  process(record: AnyRecord, context: ProcessorContext): void {
    this.step(record, (out) => this.forward(out, context), context);
  }
}

/**
 * A processor of the Processor API: one instance per task (made by the supplier when the task processes its first
 * record), closed with the task. forward() reaches every child, or one named child (ProcessedStream.child).
 */
class ProcessorNode extends Node {
  private readonly instances = new WeakMap<ProcessorContext, Processor>();
  readonly named = new Map<string, Node>();

  constructor(
    private readonly supplier: ProcessorSupplier,
    private readonly stores: readonly string[],
    private readonly windowStores: readonly ProcessorWindowStoreSpec[],
  ) {
    super();
  }

  /** The timestamp of the record being processed (what forward() without one gives its records). */
  private inputTime: number | undefined;

  process(record: AnyRecord, context: ProcessorContext): void {
    const processor = this.instanceFor(context);
    const timestamp = Number(record.timestamp);
    // Expired windows of its window stores go (with changelog tombstones) as stream time moves on: every half retention.
    for (const spec of this.windowStores) sweepExpired(context, spec.name, spec.retentionMs, context.streamTime(), WindowStore.endOf(spec.windowSizeMs));
    this.inputTime = timestamp;
    try {
      processor.process({ key: record.key, value: record.value, timestamp });
    } finally {
      this.inputTime = undefined;
    }
  }

  private instanceFor(context: ProcessorContext): Processor {
    let processor = this.instances.get(context);
    if (processor) return processor;
    const runtime = context.processorRuntime?.();
    if (!runtime) throw new Error('this context runs no Processor API (a StreamTask or the TopologyTestDriver does)');
    const made = this.supplier();
    // Kept (and closed with the task) only once init succeeded: a processor whose init threw is made anew by the next
    // record, and the schedules that init added are cancelled.
    const scheduled: Cancellable[] = [];
    try {
      made.init?.(this.apiContext(context, runtime, scheduled));
    } catch (error) {
      for (const schedule of scheduled) schedule.cancel();
      throw error;
    }
    this.instances.set(context, made);
    if (made.close) runtime.schedules.onClose(() => made.close!());
    return made;
  }

  private apiContext(context: ProcessorContext, runtime: ProcessorRuntime, scheduled: Cancellable[]): ProcessorApiContext {
    const node = this;
    const store = (name: string): ProcessorKeyValueStore => {
      if (!node.stores.includes(name)) throw new Error(`store ${name} was not given to this processor (KStream.process options.stores)`);
      const inner = context.store(name);
      return {
        get: (key) => inner.get(key),
        put: (key, value) => inner.put(key, value),
        delete: (key) => inner.delete(key),
        all: () => context.entries?.(name) ?? [],
      };
    };
    const windowStore = (name: string): ProcessorWindowStore => {
      const spec = node.windowStores.find((candidate) => candidate.name === name);
      if (!spec) throw new Error(`window store ${name} was not given to this processor (KStream.process options.windowStores)`);
      // Each call sees the stream time of now (a processor keeps the handle from init()).
      const windows = (): WindowStore => new WindowStore(context.store(name), name, spec.windowSizeMs, spec.retentionMs, context.streamTime());
      return {
        put(key, windowStart, value) {
          // A window already past its retention is not written (as Kafka Streams' window stores drop it).
          if (windowStart + spec.windowSizeMs + spec.retentionMs < context.streamTime()) {
            context.recordDropped?.('expired-window', name);
            return;
          }
          windows().put(key, windowStart, { value, timestamp: node.inputTime ?? context.streamTime() });
        },
        fetch: (key, windowStart) => windows().fetch(key, windowStart)?.value,
        fetchRange: (key, from, to) => windows().fetchRange(key, from, to).map(({ start, stamped }) => ({ windowStart: start, value: stamped.value })),
      };
    };
    return {
      taskId: runtime.taskId,
      recordMetadata: () => runtime.recordMetadata(),
      getStateStore: store as ProcessorApiContext['getStateStore'],
      getWindowStore: windowStore as ProcessorApiContext['getWindowStore'],
      forward(record: ProcessorRecord<unknown, unknown>, childName?: string) {
        const time = record.timestamp ?? node.inputTime ?? runtime.schedules.punctuationTime ?? context.streamTime();
        const out: AnyRecord = { key: record.key, value: record.value, timestamp: String(time) };
        if (childName === undefined) {
          node.forward(out, context);
          for (const child of node.named.values()) child.process(out, context);
          return;
        }
        const child = node.named.get(childName);
        if (!child) throw new Error(`the processor has no child named ${childName} (ProcessedStream.child)`);
        child.process(out, context);
      },
      schedule(intervalMs, type, punctuate) {
        const schedule = runtime.schedules.add(intervalMs, type, punctuate);
        scheduled.push(schedule);
        return schedule;
      },
      currentStreamTimeMs: () => context.streamTime(),
      currentSystemTimeMs: () => context.wallClockTime?.() ?? Date.now(),
    };
  }
}

/** Where the records of one source topic (or pattern) enter the graph. */
export class SourceNode extends Node {
  /** Set on the source of an internal repartition topic: the sources whose re-keyed records it reads. */
  repartitionOf: SourceNode[] | undefined;
  /** Where its records' timestamps come from (default: the Kafka record's own). */
  timestampExtractor: TimestampExtractor | undefined;

  constructor(readonly topic: string | RegExp) {
    super();
  }

  process(record: AnyRecord, context: ProcessorContext): void {
    this.forward(record, context);
  }
}

/** A named key-value store of the topology and the sources whose tasks write it. */
export interface StoreDefinition {
  name: string;
  sources: SourceNode[];
  /** Set for a windowed store: the window size. */
  windowSizeMs?: number;
  /**
   * For a store whose keys are not the records' keys: the record key a store key belongs to, which decides its
   * partition (a query is answered by that partition's owner). A window store's `<key>@<start>` belongs to `<key>`.
   */
  routingKey?: (storeKey: string) => string;
}

/** Sources processed together: partition p of each of them is one task. */
export interface TaskGroup {
  /** The first source topic's name (or the pattern's text): it names the group's tasks, `<name>-<partition>`. */
  name: string;
  sources: SourceNode[];
  stores: string[];
  /** True for a group of one pattern source (no stores): each matched topic's partitions are tasks of their own. */
  pattern: boolean;
}

/** Options of a stateful operation: the store's name (it names the changelog topic and the queries). */
export interface Materialized {
  store: string;
}

/** The graph a StreamsBuilder built: its sources, stores, task groups, sinks and internal topics. */
export interface Topology {
  readonly sources: readonly SourceNode[];
  readonly stores: ReadonlyMap<string, StoreDefinition>;
  readonly groups: readonly TaskGroup[];
  readonly sinkTopics: ReadonlySet<string>;
  /** The internal topics of repartitioning: their partition count is their upstream sources'. */
  readonly repartitionTopics: readonly { topic: string; upstream: SourceNode[] }[];
  readonly punctuators: readonly Punctuator[];
  /** True when a KStream.process processor is in the graph (its wall-clock punctuations need the runtime's timer). */
  readonly usesProcessorApi: boolean;
  /** The global tables: every instance reads all partitions of their topics into their stores, read-only for tasks. */
  readonly globalTables: readonly GlobalTableDefinition[];
}

/** Shared by every stream and table of one builder. */
class Graph implements Topology {
  readonly sources: SourceNode[] = [];
  readonly stores = new Map<string, StoreDefinition>();
  readonly sinkTopics = new Set<string>();
  readonly repartitionTopics: { topic: string; upstream: SourceNode[] }[] = [];
  readonly punctuators: Punctuator[] = [];
  usesProcessorApi = false;
  readonly globalTables: GlobalTableDefinition[] = [];
  groups: TaskGroup[] = [];
  /** Pairs of sources that must share tasks (joins). */
  readonly links: [SourceNode, SourceNode][] = [];
  built = false;

  constructor(readonly applicationId: string) {}

  assertOpen(): void {
    if (this.built) throw new LightError('ERR13013', { what: 'the topology', reason: 'cannot change once the streams started' });
  }

  addSource(topic: string | RegExp): SourceNode {
    this.assertOpen();
    if (this.sources.some((source) => String(source.topic) === String(topic))) {
      throw new LightError('ERR13013', { what: `source ${String(topic)}`, reason: 'is read twice; read it once and branch the stream instead' });
    }
    if (this.globalTables.some((table) => table.topic === String(topic))) {
      throw new LightError('ERR13013', { what: `source ${String(topic)}`, reason: 'is the topic of a global table: a topic is read either as a global table or by tasks' });
    }
    const source = new SourceNode(topic);
    this.sources.push(source);
    return source;
  }

  addPunctuator(punctuator: Punctuator): void {
    this.assertOpen();
    if (!Number.isInteger(punctuator.intervalMs) || punctuator.intervalMs < 10) throw new LightError('ERR13013', { what: `punctuation interval ${punctuator.intervalMs}`, reason: 'must be a whole number of milliseconds >= 10' });
    if (punctuator.sources.length === 0) throw new LightError('ERR13013', { what: 'a punctuation', reason: 'needs the sources whose tasks run it' });
    this.punctuators.push(punctuator);
  }

  addStore(definition: StoreDefinition): void {
    const { name } = definition;
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new LightError('ERR13013', { what: `store name ${JSON.stringify(name)}`, reason: 'must be letters, digits, ".", "_" or "-" (it names the changelog topic)' });
    if (this.stores.has(name) || this.globalTables.some((table) => table.store === name)) throw new LightError('ERR13013', { what: `store ${name}`, reason: 'is declared twice' });
    this.stores.set(name, definition);
  }

  addGlobalTable(definition: GlobalTableDefinition): void {
    this.assertOpen();
    const { topic, store } = definition;
    if (!/^[A-Za-z0-9._-]+$/.test(store)) throw new LightError('ERR13013', { what: `store name ${JSON.stringify(store)}`, reason: 'must be letters, digits, ".", "_" or "-"' });
    if (this.stores.has(store) || this.globalTables.some((table) => table.store === store)) throw new LightError('ERR13013', { what: `store ${store}`, reason: 'is declared twice' });
    if (this.sources.some((source) => String(source.topic) === topic) || this.globalTables.some((table) => table.topic === topic)) {
      throw new LightError('ERR13013', { what: `global table topic ${topic}`, reason: 'is read twice: a topic is read either as one global table or by tasks' });
    }
    this.globalTables.push(definition);
  }

  attach(parent: Node, child: Node): void {
    this.assertOpen();
    parent.children.push(child);
  }

  /** Union-find over the sources: a store's sources and joined sources end in one group. */
  build(): void {
    const parent = new Map<SourceNode, SourceNode>(this.sources.map((source) => [source, source]));
    const find = (source: SourceNode): SourceNode => {
      while (parent.get(source) !== source) source = parent.get(source)!;
      return source;
    };
    const union = (a: SourceNode, b: SourceNode): void => void parent.set(find(a), find(b));
    for (const store of this.stores.values()) for (const source of store.sources.slice(1)) union(store.sources[0]!, source);
    for (const [a, b] of this.links) union(a, b);
    const byRoot = new Map<SourceNode, SourceNode[]>();
    for (const source of this.sources) {
      const root = find(source);
      byRoot.set(root, [...(byRoot.get(root) ?? []), source]);
    }
    this.groups = [...byRoot.values()].map((sources) => {
      const stores = [...this.stores.values()].filter((store) => sources.includes(store.sources[0]!)).map((store) => store.name);
      const patterns = sources.filter((source) => typeof source.topic !== 'string');
      if (patterns.length > 0 && (sources.length > 1 || stores.length > 0)) {
        throw new LightError('ERR13013', { what: `source ${String(patterns[0]!.topic)}`, reason: 'is a pattern: a pattern source cannot have stores or joins (its topics and partition counts are not known in advance)' });
      }
      return { name: String(sources[0]!.topic), sources, stores, pattern: patterns.length > 0 };
    });
    this.built = true;
  }
}

/** Builds a topology: `builder.stream('orders').filter(...).groupByKey().count({ store: 'counts' })`. */
export class StreamsBuilder {
  private readonly graph: Graph;

  /** `applicationId` prefixes the internal topics (repartitioning) the topology needs. */
  constructor(applicationId = 'light-streams') {
    this.graph = new Graph(applicationId);
  }

  /**
   * The records of a topic, of several topics, or of every topic a pattern matches (each its own source).
   * `timestampExtractor`: where a record's timestamp comes from (default: the Kafka record's own), e.g. a field of
   * the value; it is the record's timestamp downstream (windows, stream time, the timestamp of outputs).
   */
  stream<K = string | null, V = unknown>(topics: string | RegExp | readonly (string | RegExp)[], options: { timestampExtractor?: TimestampExtractor<K, V> } = {}): KStream<K, V> {
    const list = Array.isArray(topics) ? topics : [topics as string | RegExp];
    if (list.length === 0) throw new LightError('ERR13013', { what: 'stream()', reason: 'needs at least one topic' });
    const sources = list.map((topic) => this.graph.addSource(topic));
    for (const source of sources) source.timestampExtractor = options.timestampExtractor as TimestampExtractor | undefined;
    return new KStream<K, V>(this.graph, sources, sources, false);
  }

  /**
   * A table from a topic (usually compacted): the latest value per key, kept in the named store; a record with a
   * null value deletes its key. Join a stream with it, or read its updates with toStream().
   */
  table<K = string, V = unknown>(topic: string, materialized: Materialized): KTable<K, V> {
    const source = this.graph.addSource(topic);
    this.graph.addStore({ name: materialized.store, sources: [source] });
    const node = new FunctionNode((record, emit, context) => {
      if (record.key === null || record.key === undefined) return;
      const store = context.store(materialized.store);
      const oldValue = store.get(record.key);
      if (record.value === null || record.value === undefined) store.delete(record.key);
      else store.put(record.key, record.value);
      emit(withOldValue({ ...record }, oldValue));
    });
    this.graph.attach(source, node);
    return new KTable<K, V>(this.graph, node, [source], materialized.store);
  }

  /**
   * A global table (Kafka Streams' GlobalKTable): every instance reads all partitions of `topic` (outside the streams'
   * consumer group, committing nothing) into the named store, restored to the topic's end before the streams process
   * anything and kept up to date while they run; a null value deletes its key. Streams join it with a key selector
   * (`stream.join(globalTable, keySelector, joiner)`), without co-partitioning; tasks read it, never write it.
   */
  globalTable<K = string, V = unknown>(topic: string, materialized: Materialized): GlobalKTable<K, V> {
    this.graph.addGlobalTable({ topic, store: materialized.store });
    return new GlobalKTable<K, V>(topic, materialized.store);
  }

  /** Adds a punctuation (see Punctuator): its sources' tasks run it, with the stores of their group. */
  punctuate(punctuator: Punctuator): void {
    this.graph.addPunctuator(punctuator);
  }

  /**
   * A node that runs `step` for every record of `streams` (and forwards nothing; `step` learns which stream by its
   * index), with `stores` declared on their
   * sources so that partition p of every source is one task with the stores: the building block of processors
   * that keep state over several topics (sagas).
   */
  process(streams: readonly KStream<unknown, unknown>[], stores: readonly string[], step: (record: StreamRecord<unknown, unknown>, context: ProcessorContext, stream: number) => void): SourceNode[] {
    const sources = [...new Set(streams.flatMap((stream) => [...stream.parts.sources]))];
    for (const name of stores) this.graph.addStore({ name, sources });
    for (const [index, stream] of streams.entries()) {
      // `stream`: the index of the stream the record came from, in `streams`.
      const node = new FunctionNode((record, _emit, context) => step(record, context, index));
      for (const head of stream.parts.heads) this.graph.attach(head, node);
    }
    return sources;
  }

  /** The number of sources added so far (global tables included). */
  get sourceCount(): number {
    return this.graph.sources.length + this.graph.globalTables.length;
  }

  /** The finished graph (task groups computed); no operation may be added afterwards. */
  build(): Topology {
    if (!this.graph.built) this.graph.build();
    return this.graph;
  }
}

/**
 * A stream of records. `heads` are the nodes the next operation attaches to; `sources` the sources the stream
 * comes from (their tasks run it); `keyChanged` marks a stream whose key is no longer the input's (grouping or
 * joining it goes through a repartition topic).
 */
export class KStream<K, V> {
  constructor(
    private readonly graph: Graph,
    private readonly heads: readonly Node[],
    private readonly sources: readonly SourceNode[],
    private readonly keyChanged: boolean,
  ) {}

  private then<K2, V2>(step: (record: AnyRecord, emit: (record: AnyRecord) => void, context: ProcessorContext) => void, keyChanged = this.keyChanged): KStream<K2, V2> {
    const node = new FunctionNode(step);
    for (const head of this.heads) this.graph.attach(head, node);
    return new KStream<K2, V2>(this.graph, [node], this.sources, keyChanged);
  }

  filter(predicate: (key: K, value: V) => boolean): KStream<K, V> {
    return this.then((record, emit) => {
      if (predicate(record.key as K, record.value as V)) emit(record);
    });
  }

  filterNot(predicate: (key: K, value: V) => boolean): KStream<K, V> {
    return this.filter((key, value) => !predicate(key, value));
  }

  mapValues<V2>(mapper: (value: V, key: K) => V2): KStream<K, V2> {
    return this.then((record, emit) => emit({ ...record, value: mapper(record.value as V, record.key as K) }));
  }

  /** A new key and value per record (the key changes: grouping it goes through a repartition topic). */
  map<K2, V2>(mapper: (key: K, value: V) => [K2, V2]): KStream<K2, V2> {
    return this.then((record, emit) => {
      const [key, value] = mapper(record.key as K, record.value as V);
      emit({ ...record, key, value });
    }, true);
  }

  flatMapValues<V2>(mapper: (value: V, key: K) => Iterable<V2>): KStream<K, V2> {
    return this.then((record, emit) => {
      for (const value of mapper(record.value as V, record.key as K)) emit({ ...record, value });
    });
  }

  flatMap<K2, V2>(mapper: (key: K, value: V) => Iterable<[K2, V2]>): KStream<K2, V2> {
    return this.then((record, emit) => {
      for (const [key, value] of mapper(record.key as K, record.value as V)) emit({ ...record, key, value });
    }, true);
  }

  /** A new key per record, the value unchanged. */
  selectKey<K2>(selector: (key: K, value: V) => K2): KStream<K2, V> {
    return this.then((record, emit) => emit({ ...record, key: selector(record.key as K, record.value as V) }), true);
  }

  /** Runs `action` per record and passes the record on unchanged. */
  peek(action: (key: K, value: V) => void): KStream<K, V> {
    return this.then((record, emit) => {
      action(record.key as K, record.value as V);
      emit(record);
    });
  }

  /**
   * One stream per predicate: a record goes to the first branch whose predicate it matches (and nowhere if none
   * does), as Kafka Streams' split().branch() does.
   */
  branch(...predicates: ((key: K, value: V) => boolean)[]): KStream<K, V>[] {
    const branches = predicates.map(() => new FunctionNode((record, emit) => emit(record)));
    const router = new FunctionNode((record, _emit, context) => {
      const index = predicates.findIndex((predicate) => predicate(record.key as K, record.value as V));
      if (index >= 0) branches[index]!.process(record, context);
    });
    for (const head of this.heads) this.graph.attach(head, router);
    return branches.map((branch) => new KStream<K, V>(this.graph, [branch], this.sources, this.keyChanged));
  }

  /** The records of both streams. */
  merge(other: KStream<K, V>): KStream<K, V> {
    const node = new FunctionNode((record, emit) => emit(record));
    for (const head of [...this.heads, ...other.heads]) this.graph.attach(head, node);
    return new KStream<K, V>(this.graph, [node], [...new Set([...this.sources, ...other.sources])], this.keyChanged || other.keyChanged);
  }

  /** Writes each record to `topic` (through the topic's produce chain), or to the topic `topicOf` picks for it. */
  to(topic: string | ((key: K, value: V) => string)): void {
    if (typeof topic === 'string') this.graph.sinkTopics.add(topic);
    const pick = typeof topic === 'string' ? () => topic : topic;
    this.then((record, _emit, context) => context.send(pick(record.key as K, record.value as V), record));
  }

  /**
   * Writes the stream to the internal topic `<application.id>-<name>-repartition` (partitioned by the current
   * key) and reads it back: what follows runs in the tasks of that topic, so records of one key meet in one task.
   */
  repartition(name: string): KStream<K, V> {
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new LightError('ERR13013', { what: `repartition name ${JSON.stringify(name)}`, reason: 'must be letters, digits, ".", "_" or "-"' });
    const topic = `${this.graph.applicationId}-${name}-repartition`;
    const upstream = this.sources.filter((source) => source.repartitionOf === undefined).concat(this.sources.flatMap((source) => source.repartitionOf ?? []));
    this.then((record, _emit, context) => context.send(topic, record));
    const source = this.graph.addSource(topic);
    source.repartitionOf = upstream;
    this.graph.repartitionTopics.push({ topic, upstream });
    return new KStream<K, V>(this.graph, [source], [source], false);
  }

  /** Groups by the current key, for count, reduce and aggregate into a store (repartitioned after a key change). */
  groupByKey(): KGroupedStream<K, V> {
    return new KGroupedStream<K, V>(this.graph, this, this.keyChanged);
  }

  /** Groups by a new key: selectKey(selector).groupByKey(), through a repartition topic. */
  groupBy<K2>(selector: (key: K, value: V) => K2): KGroupedStream<K2, V> {
    return this.selectKey(selector).groupByKey();
  }

  /**
   * Joins each record with the table's current value for its key: `joiner(value, tableValue, key)` is emitted when the
   * table has the key (inner join). The stream and the table must be co-partitioned (same key, same partition count);
   * a stream whose key changed is repartitioned first. A record with a null key or value is dropped.
   */
  join<TV, R>(table: KTable<K, TV>, joiner: (value: V, tableValue: TV, key: K) => R): KStream<K, R>;
  /**
   * A windowed stream-stream join (Kafka Streams' KStream#join with JoinWindows): each record of this stream with the
   * other stream's records of the same key within the windows, `joiner(value, otherValue, key)` per pair, at the later
   * of the two timestamps. Both sides are buffered in window stores of the task (changelog-backed, named after
   * `options.name`); the streams must be co-partitioned (a side whose key changed is repartitioned first, through
   * `<application.id>-<name>-left-repartition` / `-right-repartition`). Records with a null key or value are dropped.
   */
  join<V2, R>(other: KStream<K, V2>, joiner: (value: V, otherValue: V2, key: K) => R, windows: JoinWindows, options: StreamJoined): KStream<K, R>;
  /**
   * Joins each record with a global table: `keySelector(key, value)` picks the global table's key, and
   * `joiner(value, globalValue, key)` is emitted when the table has it (as of processing time). No co-partitioning:
   * every instance holds the whole global table. A record with a null value, or whose selected key is null, is dropped.
   */
  join<GK, GV, R>(globalTable: GlobalKTable<GK, GV>, keySelector: (key: K, value: V) => GK | null | undefined, joiner: (value: V, globalValue: GV, key: K) => R): KStream<K, R>;
  join(target: unknown, second: unknown, third?: unknown, fourth?: unknown): KStream<K, unknown> {
    return this.joinWith('join', target, second, third, fourth);
  }

  /**
   * As the join with a table, but a record whose key is not in the table is joined with undefined, and a record with
   * a null key is joined with undefined rather than dropped (Kafka Streams 3.7+, KIP-962).
   */
  leftJoin<TV, R>(table: KTable<K, TV>, joiner: (value: V, tableValue: TV | undefined, key: K) => R): KStream<K, R>;
  /**
   * As the windowed join, but a record of this stream that meets no record of the other within its window is emitted
   * with undefined for the other side — once its window closed (stream time past its time + after + grace), or at
   * once when it comes after that (out of order); a record of this stream with a null key is emitted at once.
   */
  leftJoin<V2, R>(other: KStream<K, V2>, joiner: (value: V, otherValue: V2 | undefined, key: K) => R, windows: JoinWindows, options: StreamJoined): KStream<K, R>;
  /** As the join with a global table, but a record the global table has nothing for is joined with undefined. */
  leftJoin<GK, GV, R>(globalTable: GlobalKTable<GK, GV>, keySelector: (key: K, value: V) => GK | null | undefined, joiner: (value: V, globalValue: GV | undefined, key: K) => R): KStream<K, R>;
  leftJoin(target: unknown, second: unknown, third?: unknown, fourth?: unknown): KStream<K, unknown> {
    return this.joinWith('leftJoin', target, second, third, fourth);
  }

  /**
   * As the windowed left join, on both sides: a record of either stream without a match is emitted with undefined for
   * the other side once its window closed (`joiner(value, undefined, key)` or `joiner(undefined, otherValue, key)`).
   */
  outerJoin<V2, R>(other: KStream<K, V2>, joiner: (value: V | undefined, otherValue: V2 | undefined, key: K) => R, windows: JoinWindows, options: StreamJoined): KStream<K, R> {
    if (!(other instanceof KStream)) throw new LightError('ERR13013', { what: 'outerJoin()', reason: 'joins a stream with another stream (tables: KTable#outerJoin)' });
    return this.windowedJoin(other, joiner as AnyJoiner, windows, options, true, true) as KStream<K, R>;
  }

  private joinWith(kind: 'join' | 'leftJoin', target: unknown, second: unknown, third: unknown, fourth: unknown): KStream<K, unknown> {
    const left = kind === 'leftJoin';
    if (target instanceof KTable) return this.tableJoin(target, second as AnyJoiner, left);
    if (target instanceof GlobalKTable) {
      if (typeof second !== 'function' || typeof third !== 'function') throw new LightError('ERR13013', { what: `${kind}() with a global table`, reason: 'needs a key selector and a joiner' });
      return this.then(streamGlobalJoin(target.storeName, second as (key: unknown, value: unknown) => unknown, third as AnyJoiner, left));
    }
    if (target instanceof KStream) return this.windowedJoin(target, second as AnyJoiner, third, fourth, left, false);
    throw new LightError('ERR13013', { what: `${kind}()`, reason: 'joins a KTable, a KStream (with JoinWindows) or a GlobalKTable' });
  }

  private tableJoin(table: KTable<K, unknown>, joiner: AnyJoiner, left: boolean): KStream<K, unknown> {
    const stream = this.keyChanged ? this.repartition(`${table.storeName}-join`) : this;
    for (const source of stream.sources) for (const tableSource of table.sources) this.graph.links.push([source, tableSource]);
    return stream.then(streamTableJoin(table.storeName, joiner, left));
  }

  private windowedJoin(other: KStream<unknown, unknown>, joiner: AnyJoiner, windows: unknown, options: unknown, leftOuter: boolean, rightOuter: boolean): KStream<K, unknown> {
    if (!(windows instanceof JoinWindows)) throw new LightError('ERR13013', { what: 'a stream-stream join', reason: 'needs JoinWindows (JoinWindows.ofTimeDifferenceAndGrace or ofTimeDifferenceWithNoGrace)' });
    const name = (options as StreamJoined | undefined)?.name;
    if (typeof name !== 'string' || !/^[A-Za-z0-9._-]+$/.test(name)) {
      throw new LightError('ERR13013', { what: `stream-stream join name ${JSON.stringify(name)}`, reason: 'must be given ({ name }) as letters, digits, ".", "_" or "-": it names the join\'s stores and repartition topics' });
    }
    const left = this.keyChanged ? this.repartition(`${name}-left`) : this;
    const right = other.keyChanged ? other.repartition(`${name}-right`) : other;
    const sources = [...new Set([...left.sources, ...right.sources])];
    const stores = streamJoinStoreNames(name, leftOuter, rightOuter);
    this.graph.addStore({ name: stores.left, sources, routingKey: windowStoreRoutingKey });
    this.graph.addStore({ name: stores.right, sources, routingKey: windowStoreRoutingKey });
    if (stores.outer !== undefined) this.graph.addStore({ name: stores.outer, sources, routingKey: unmatchedRoutingKey });
    const steps = streamStreamJoin({ windows, stores, leftOuter, rightOuter, joiner });
    const leftNode = new FunctionNode(steps.left);
    const rightNode = new FunctionNode(steps.right);
    for (const head of left.heads) this.graph.attach(head, leftNode);
    for (const head of right.heads) this.graph.attach(head, rightNode);
    return new KStream<K, unknown>(this.graph, [leftNode, rightNode], sources, false);
  }

  /**
   * The command side of an event-sourced aggregate (the stream's records are Commands keyed by aggregate id): per
   * command, the aggregate is loaded from `store` (state and version), the command checked — an `expectedVersion`
   * other than the current version, or a `decide` that returns `{ reject }`, gives a CommandRejected event on
   * `rejections` — and the events `decide` returns are appended to `events` with the next versions, the state
   * evolved and stored. Under exactly_once the events, the store change and the command's offset commit together.
   * A command id is applied once: the aggregate remembers its processed ids and outcomes (options.idempotency), and
   * a re-sent command gets its first outcome again, appending nothing. A command with `replyTo` gets its outcome
   * (CommandReply) written there in the same transaction. Returns the appended events (rejections excluded).
   */
  processCommands<S>(options: CommandProcessorOptions<S>): KStream<string, Event> {
    const grouped = this.keyChanged ? this.repartition(`${options.store}-commands`) : this;
    this.graph.addStore({ name: options.store, sources: [...grouped.sources] });
    if (options.idempotency !== false) {
      const processed = processedStoreOf(options.store);
      this.graph.addStore({ name: processed, sources: [...grouped.sources], routingKey: aggregateOfProcessedKey });
      this.graph.addPunctuator(processedSweeper(processed, grouped.sources, options.idempotency));
    }
    return grouped.then(commandStep(options), false);
  }

  /**
   * A processor of your own on each record (the Processor API, see processor-api.ts): `supplier` makes one instance
   * per task; `options.stores` are the key-value stores it may use (created here, changelog-backed, partitioned as
   * the stream). Returns what it forwards (to every child); `.child(name)` is what it forwards to that name only.
   * The key of what it forwards may differ from the input's: grouping or joining the result repartitions first.
   */
  process<KOut = unknown, VOut = unknown>(
    supplier: ProcessorSupplier<K, V, KOut, VOut>,
    options: { stores?: readonly string[]; windowStores?: readonly ProcessorWindowStoreSpec[] } = {},
  ): ProcessedStream<KOut, VOut> {
    const stores = options.stores ?? [];
    const windowStores = options.windowStores ?? [];
    for (const name of stores) this.graph.addStore({ name, sources: [...this.sources] });
    for (const spec of windowStores) {
      for (const [value, what] of [[spec.windowSizeMs, 'windowSizeMs'], [spec.retentionMs, 'retentionMs']] as const) {
        if (!Number.isInteger(value) || value < 1) throw new LightError('ERR13013', { what: `window store ${spec.name} ${what} ${value}`, reason: 'must be a whole number of milliseconds >= 1' });
      }
      this.graph.addStore({ name: spec.name, sources: [...this.sources], windowSizeMs: spec.windowSizeMs, routingKey: windowRoutingKey });
    }
    const node = new ProcessorNode(supplier as ProcessorSupplier, stores, windowStores);
    for (const head of this.heads) this.graph.attach(head, node);
    this.graph.usesProcessorApi = true;
    return new ProcessedStream<KOut, VOut>(this.graph, node, this.sources);
  }

  /** @internal the stream's parts, for grouping */
  get parts(): { heads: readonly Node[]; sources: readonly SourceNode[] } {
    return { heads: this.heads, sources: this.sources };
  }
}

/** What a processor forwards (KStream.process): to all its children, or, through child(name), to that name only. */
export class ProcessedStream<K, V> extends KStream<K, V> {
  constructor(
    private readonly processedGraph: Graph,
    private readonly processorNode: ProcessorNode,
    private readonly processedSources: readonly SourceNode[],
  ) {
    super(processedGraph, [processorNode], processedSources, true);
  }

  /** The records the processor forwards to `name` (forward(record, name)), and those it forwards to all children. */
  child(name: string): KStream<K, V> {
    this.processedGraph.assertOpen();
    if (this.processorNode.named.has(name)) throw new LightError('ERR13013', { what: `processor child ${name}`, reason: 'is declared twice' });
    const passThrough = new FunctionNode((record, emit) => emit(record));
    this.processorNode.named.set(name, passThrough);
    return new KStream<K, V>(this.processedGraph, [passThrough], this.processedSources, true);
  }
}

/** A stream grouped by key, ready to aggregate into a named store. */
export class KGroupedStream<K, V> {
  constructor(
    private readonly graph: Graph,
    private readonly stream: KStream<K, V>,
    private readonly needsRepartition: boolean,
  ) {}

  /** The number of records per key. */
  count(materialized: Materialized): KTable<K, number> {
    return this.aggregate(() => 0, (_key, _value, count) => count + 1, materialized);
  }

  /** Combines the values of a key: the first value as is, then reducer(aggregate, value). */
  reduce(reducer: (aggregate: V, value: V) => V, materialized: Materialized): KTable<K, V> {
    return this.fold<V>((_key, value, current) => (current === undefined ? value : reducer(current, value)), materialized);
  }

  aggregate<A>(initializer: () => A, aggregator: (key: K, value: V, aggregate: A) => A, materialized: Materialized): KTable<K, A> {
    return this.fold<A>((key, value, current) => aggregator(key, value, current === undefined ? initializer() : current), materialized);
  }

  /**
   * Windowed aggregations, per key and window: tumbling or hopping (TimeWindows), sliding (SlidingWindows) or
   * session (SessionWindows) windows. Their results are windowed tables (WindowedKTable).
   */
  windowedBy(windows: TimeWindows | SlidingWindows): TimeWindowedKStream<K, V>;
  windowedBy(windows: SessionWindows): SessionWindowedKStream<K, V>;
  windowedBy(windows: TimeWindows | SlidingWindows | SessionWindows): TimeWindowedKStream<K, V> | SessionWindowedKStream<K, V> {
    if (windows instanceof SessionWindows) return new SessionWindowedKStream<K, V>(this.graph, this, windows);
    return new TimeWindowedKStream<K, V>(this.graph, this, windows);
  }

  /** @internal the stream to aggregate into store `name`: repartitioned by its new key first when the key changed. */
  input(name: string): KStream<K, V> {
    return this.needsRepartition ? this.stream.repartition(name) : this.stream;
  }

  /** Records with a null key are skipped, as in Kafka Streams: a store key cannot be null. */
  private fold<A>(next: (key: K, value: V, current: A | undefined) => A, materialized: Materialized): KTable<K, A> {
    const name = materialized.store;
    const { heads, sources } = this.input(name).parts;
    this.graph.addStore({ name, sources: [...sources] });
    const node = new FunctionNode((record, emit, context) => {
      if (record.key === null || record.key === undefined) {
        context.recordDropped?.('null-key', name);
        return;
      }
      const store = context.store(name);
      const value = next(record.key as K, record.value as V, store.get(record.key) as A | undefined);
      store.put(record.key, value);
      emit({ ...record, value });
    });
    for (const head of heads) this.graph.attach(head, node);
    return new KTable<K, A>(this.graph, node, sources, name);
  }
}

/**
 * Declares a windowed aggregation's stores — the window store (named by `materialized`), and `<store>-stream-time`,
 * where its stream time is kept — on the sources of its (repartitioned, if needed) input, and attaches its step.
 */
function windowedAggregation<K, V, A>(
  graph: Graph,
  grouped: KGroupedStream<K, V>,
  windows: WindowSpec,
  materialized: WindowMaterialized,
  functions: Pick<AggregationOptions, 'initializer' | 'aggregator'> & { merger?: (key: unknown, aggregate1: unknown, aggregate2: unknown) => unknown },
): WindowedKTable<K, A> {
  const name = materialized.store;
  const retentionMs = retentionOf(name, windows, materialized.retentionMs);
  const timeStore = `${name}-stream-time`;
  const { heads, sources } = grouped.input(name).parts;
  const session = windows instanceof SessionWindows;
  graph.addStore({
    name,
    sources: [...sources],
    ...(windows instanceof TimeWindows ? { windowSizeMs: windows.sizeMs } : {}),
    routingKey: session ? sessionRoutingKey : windowRoutingKey,
  });
  graph.addStore({ name: timeStore, sources: [...sources] });
  const options: AggregationOptions = { store: name, timeStore, retentionMs, ...(materialized.lateRecords ? { lateRecords: materialized.lateRecords } : {}), ...functions };
  const step =
    windows instanceof SessionWindows
      ? sessionWindowStep(windows, { ...options, merger: functions.merger! })
      : windows instanceof SlidingWindows
        ? slidingWindowStep(windows, options)
        : timeWindowStep(windows, options);
  const node = new FunctionNode(step);
  for (const head of heads) graph.attach(head, node);
  return new WindowedKTable<K, A>(graph, node, sources, name, { timeStore, closesAfterMs: closesAfterMs(windows) });
}

/** Kafka Streams' reduce as an aggregation: the first value as is, then reducer(aggregate, value). */
function reduceAsAggregation<V>(reducer: (aggregate: V, value: V) => V): Pick<AggregationOptions, 'initializer' | 'aggregator'> {
  return {
    initializer: () => null,
    aggregator: (_key, value, aggregate) => (aggregate === null || aggregate === undefined ? value : reducer(aggregate as V, value as V)),
  };
}

/**
 * A grouped stream cut into tumbling, hopping or sliding windows. Each aggregation keeps its windows in the window
 * store `materialized.store`, keyed `<key>@<window start, 13 digits>` (windowKey()) with values
 * `{ value, timestamp }` (the aggregate, and the newest record timestamp in the window), and returns a windowed table
 * whose updates stream keyed by `{ key, start, end }` (Windowed). Records with a null key are dropped (sliding
 * windows: also a null value), and so are records whose windows closed (stream time >= window end + grace).
 */
export class TimeWindowedKStream<K, V> {
  constructor(
    private readonly graph: Graph,
    private readonly grouped: KGroupedStream<K, V>,
    private readonly windows: TimeWindows | SlidingWindows,
  ) {}

  /** The number of records per key and window. */
  count(materialized: WindowMaterialized): WindowedKTable<K, number> {
    return this.aggregate(() => 0, (_key, _value, count) => count + 1, materialized);
  }

  /** Combines the values of a key's window: the first value as is, then reducer(aggregate, value). */
  reduce(reducer: (aggregate: V, value: V) => V, materialized: WindowMaterialized): WindowedKTable<K, V> {
    return windowedAggregation<K, V, V>(this.graph, this.grouped, this.windows, materialized, reduceAsAggregation(reducer));
  }

  aggregate<A>(initializer: () => A, aggregator: (key: K, value: V, aggregate: A) => A, materialized: WindowMaterialized): WindowedKTable<K, A> {
    return windowedAggregation<K, V, A>(this.graph, this.grouped, this.windows, materialized, {
      initializer,
      aggregator: (key, value, aggregate) => aggregator(key as K, value as V, aggregate as A),
    });
  }
}

/**
 * A grouped stream cut into session windows: as TimeWindowedKStream, with session store keys
 * `<key>@<start, 13 digits>@<end, 13 digits>`; when a record bridges sessions they merge (`merger` combines their
 * aggregates) and each merged-away session's update is a tombstone (value null).
 */
export class SessionWindowedKStream<K, V> {
  constructor(
    private readonly graph: Graph,
    private readonly grouped: KGroupedStream<K, V>,
    private readonly windows: SessionWindows,
  ) {}

  /** The number of records per key and session. */
  count(materialized: WindowMaterialized): WindowedKTable<K, number> {
    return this.aggregate(() => 0, (_key, _value, count) => count + 1, (_key, a, b) => a + b, materialized);
  }

  /** Combines the values of a key's session: the first value as is, then reducer(aggregate, value); merged sessions: reducer(earlier, later). */
  reduce(reducer: (aggregate: V, value: V) => V, materialized: WindowMaterialized): WindowedKTable<K, V> {
    const reduce = reduceAsAggregation(reducer);
    // Kafka Streams merges a reduce's sessions with its aggregator: merger(a, b) = aggregator(key, b, a).
    return windowedAggregation<K, V, V>(this.graph, this.grouped, this.windows, materialized, { ...reduce, merger: (key, a, b) => reduce.aggregator(key, b, a) });
  }

  aggregate<A>(initializer: () => A, aggregator: (key: K, value: V, aggregate: A) => A, merger: (key: K, aggregate1: A, aggregate2: A) => A, materialized: WindowMaterialized): WindowedKTable<K, A> {
    return windowedAggregation<K, V, A>(this.graph, this.grouped, this.windows, materialized, {
      initializer,
      aggregator: (key, value, aggregate) => aggregator(key as K, value as V, aggregate as A),
      merger: (key, a, b) => merger(key as K, a as A, b as A),
    });
  }
}

/**
 * A table: the latest value per key in a store; each update can be read as a stream, and joined with another table.
 * Its node forwards one record per change: the key's new value, or null when the key was deleted (a tombstone).
 */
export class KTable<K, V> {
  constructor(
    private readonly graph: Graph,
    private readonly node: Node,
    readonly sources: readonly SourceNode[],
    readonly storeName: string,
  ) {}

  /** The table's updates as a stream: one record per change, with the key's new value (null when it was deleted). */
  toStream(): KStream<K, V> {
    const node = new FunctionNode((record, emit) => emit({ ...record }));
    this.graph.attach(this.node, node);
    return new KStream<K, V>(this.graph, [node], this.sources, false);
  }

  /**
   * A table-table join (Kafka Streams' KTable#join), materialized in `materialized.store`: key k holds
   * `joiner(value, otherValue, key)` while both tables have k; an update of either side updates it, a deletion on
   * either side deletes it (forwarded as a tombstone). The tables must be co-partitioned.
   */
  join<V2, R>(other: KTable<K, V2>, joiner: (value: V, otherValue: V2, key: K) => R, materialized: Materialized): KTable<K, R> {
    return this.tableJoin(other, joiner as AnyJoiner, materialized, false, false);
  }

  /** As join, but a key of this table that the other has not is joined with undefined; it is deleted only with this table's. */
  leftJoin<V2, R>(other: KTable<K, V2>, joiner: (value: V, otherValue: V2 | undefined, key: K) => R, materialized: Materialized): KTable<K, R> {
    return this.tableJoin(other, joiner as AnyJoiner, materialized, true, false);
  }

  /** As join, but a key of either table is joined with undefined for the other; it is deleted once neither has it. */
  outerJoin<V2, R>(other: KTable<K, V2>, joiner: (value: V | undefined, otherValue: V2 | undefined, key: K) => R, materialized: Materialized): KTable<K, R> {
    return this.tableJoin(other, joiner as AnyJoiner, materialized, true, true);
  }

  private tableJoin(other: KTable<K, unknown>, joiner: AnyJoiner, materialized: Materialized, leftOuter: boolean, rightOuter: boolean): KTable<K, never> {
    if (!(other instanceof KTable)) throw new LightError('ERR13013', { what: 'a table-table join', reason: 'joins a KTable with another KTable' });
    if (this instanceof WindowedKTable || other instanceof WindowedKTable) throw new LightError('ERR13013', { what: 'a table-table join', reason: 'of a windowed table is not supported (join the tables before windowing, or the streams with JoinWindows)' });
    const sources = [...new Set([...this.sources, ...other.sources])];
    const timestampsStore = tableJoinTimestampsStore(materialized.store);
    this.graph.addStore({ name: materialized.store, sources });
    this.graph.addStore({ name: timestampsStore, sources, routingKey: timestampsRoutingKey });
    const steps = tableTableJoin({ leftStore: this.storeName, rightStore: other.storeName, resultStore: materialized.store, timestampsStore, leftOuter, rightOuter, joiner });
    const leftNode = new FunctionNode(steps.left);
    const rightNode = new FunctionNode(steps.right);
    this.graph.attach(this.node, leftNode);
    this.graph.attach(other.node, rightNode);
    // One node the result's children hang on: it passes each change on as it is (its old value with it).
    const result = new FunctionNode((record, emit) => emit(record));
    this.graph.attach(leftNode, result);
    this.graph.attach(rightNode, result);
    return new KTable<K, never>(this.graph, result, sources, materialized.store);
  }
}

/**
 * The result of a windowed aggregation: a table keyed by `{ key, start, end }` (Windowed) whose updates toStream()
 * gives (a session merged away: value null). `suppress(Suppressed.untilWindowCloses(...))` holds them back to one
 * final result per window.
 */
export class WindowedKTable<K, V> extends KTable<Windowed<K>, V> {
  constructor(
    private readonly windowGraph: Graph,
    private readonly head: Node,
    sources: readonly SourceNode[],
    storeName: string,
    private readonly closing: { timeStore: string; closesAfterMs: number },
  ) {
    super(windowGraph, head, sources, storeName);
  }

  /**
   * Final results (Kafka Streams' suppress(Suppressed.untilWindowCloses(BufferConfig.unbounded()))): each window's
   * latest update waits in a changelog-backed buffer store (`suppressed.name`, default `<window store>-suppress`) and
   * is emitted once, when stream time reaches the window end + grace (sessions: end + gap + grace); a merged-away
   * session emits nothing. Pending results survive a restart.
   */
  suppress(suppressed: Suppressed): WindowedKTable<K, V> {
    const buffer = suppressed.name ?? `${this.storeName}-suppress`;
    if (!Number.isFinite(this.closing.closesAfterMs)) {
      throw new LightError('ERR13013', { what: `suppress() of window store ${this.storeName}`, reason: 'needs windows that close: TimeWindows.ofSizeMs windows have no grace limit (use TimeWindows.ofSizeWithNoGrace or ofSizeAndGrace)' });
    }
    this.windowGraph.addStore({ name: buffer, sources: [...this.sources] });
    const node = new FunctionNode(suppressStep({ buffer, timeStore: this.closing.timeStore, closesAfterMs: this.closing.closesAfterMs }));
    this.windowGraph.attach(this.head, node);
    return new WindowedKTable<K, V>(this.windowGraph, node, this.sources, this.storeName, this.closing);
  }
}
