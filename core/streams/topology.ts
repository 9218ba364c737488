import { LightError } from '../errors/light-error.js';

/**
 * The topology DSL, in the spirit of Kafka Streams' StreamsBuilder: a graph of processing nodes from source
 * topics to sinks and state stores, built once in TypeScript before the service starts. A record flows through
 * the graph synchronously; stores are read and written through the task that owns the record's partition.
 */

/** A record inside a topology: its key, its value, and when it happened (the input record's timestamp). */
export interface StreamRecord<K, V> {
  key: K;
  value: V;
  timestamp: string;
}

/** A key-value store as a processing node sees it: reads see the writes of the records before, committed or not. */
export interface ProcessorStore {
  get(key: unknown): unknown;
  put(key: unknown, value: unknown): void;
  delete(key: unknown): void;
}

/** What a node reaches while it processes one record: the task's stores, and the outputs of the record. */
export interface ProcessorContext {
  store(name: string): ProcessorStore;
  send(topic: string, record: StreamRecord<unknown, unknown>): void;
}

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

/** Where the records of one source topic (or pattern) enter the graph. */
export class SourceNode extends Node {
  constructor(readonly topic: string | RegExp) {
    super();
  }

  process(record: AnyRecord, context: ProcessorContext): void {
    this.forward(record, context);
  }
}

/** A named key-value store of the topology, and the source that feeds it (its tasks own the store). */
export interface StoreDefinition {
  name: string;
  source: SourceNode;
}

/** Options of a stateful operation: the store's name (it names the changelog topic and the queries). */
export interface Materialized {
  store: string;
}

/** The graph a StreamsBuilder built: its sources, stores and sink topics. */
export interface Topology {
  readonly sources: readonly SourceNode[];
  readonly stores: ReadonlyMap<string, StoreDefinition>;
  readonly sinkTopics: ReadonlySet<string>;
}

/** Shared by every stream and table of one builder. */
class Graph implements Topology {
  readonly sources: SourceNode[] = [];
  readonly stores = new Map<string, StoreDefinition>();
  readonly sinkTopics = new Set<string>();
  built = false;

  addStore(name: string, source: SourceNode): void {
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new LightError('ERR13013', { what: `store name ${JSON.stringify(name)}`, reason: 'must be letters, digits, ".", "_" or "-" (it names the changelog topic)' });
    if (this.stores.has(name)) throw new LightError('ERR13013', { what: `store ${name}`, reason: 'is declared twice' });
    this.stores.set(name, { name, source });
  }

  attach(parent: Node, child: Node): void {
    if (this.built) throw new LightError('ERR13013', { what: 'the topology', reason: 'cannot change once the streams started' });
    parent.children.push(child);
  }
}

/** Builds a topology: `builder.stream('orders').filter(...).groupByKey().count({ store: 'counts' })`. */
export class StreamsBuilder {
  private readonly graph = new Graph();

  /** The records of a topic, of several topics, or of every topic a pattern matches (each its own source). */
  stream<K = string | null, V = unknown>(topics: string | RegExp | readonly (string | RegExp)[]): KStream<K, V> {
    if (this.graph.built) throw new LightError('ERR13013', { what: 'the topology', reason: 'cannot change once the streams started' });
    const list = Array.isArray(topics) ? topics : [topics as string | RegExp];
    if (list.length === 0) throw new LightError('ERR13013', { what: 'stream()', reason: 'needs at least one topic' });
    const sources = list.map((topic) => {
      if (this.graph.sources.some((source) => String(source.topic) === String(topic))) {
        throw new LightError('ERR13013', { what: `source ${String(topic)}`, reason: 'is read by two streams; branch one stream instead' });
      }
      const source = new SourceNode(topic);
      this.graph.sources.push(source);
      return source;
    });
    return new KStream<K, V>(this.graph, sources, sources.length === 1 ? sources[0] : undefined, false);
  }

  /** The number of sources added so far. */
  get sourceCount(): number {
    return this.graph.sources.length;
  }

  /** The finished graph; no operation may be added afterwards. */
  build(): Topology {
    this.graph.built = true;
    return this.graph;
  }
}

/**
 * A stream of records. Nodes: `heads` are the nodes the next operation attaches to; `source` is the single source
 * the stream comes from (stateful operations need one, so a store belongs to that source's tasks); `keyChanged`
 * marks a stream whose key is no longer the input's (grouping it would need a repartition topic).
 */
export class KStream<K, V> {
  constructor(
    private readonly graph: Graph,
    private readonly heads: readonly Node[],
    private readonly source: SourceNode | undefined,
    private readonly keyChanged: boolean,
  ) {}

  private then<K2, V2>(step: (record: AnyRecord, emit: (record: AnyRecord) => void, context: ProcessorContext) => void, keyChanged = this.keyChanged): KStream<K2, V2> {
    const node = new FunctionNode(step);
    for (const head of this.heads) this.graph.attach(head, node);
    return new KStream<K2, V2>(this.graph, [node], this.source, keyChanged);
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

  /** A new key and value per record (the key changes: group it only after a repartition). */
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
    const router = new FunctionNode(() => undefined);
    for (const head of this.heads) this.graph.attach(head, router);
    const branches = predicates.map(() => new FunctionNode((record, emit) => emit(record)));
    // The router forwards to exactly one branch, so it does not use Node.forward.
    router.process = (record, context) => {
      const index = predicates.findIndex((predicate) => predicate(record.key as K, record.value as V));
      if (index >= 0) branches[index]!.process(record, context);
    };
    return branches.map((branch) => new KStream<K, V>(this.graph, [branch], this.source, this.keyChanged));
  }

  /** The records of both streams. */
  merge(other: KStream<K, V>): KStream<K, V> {
    const node = new FunctionNode((record, emit) => emit(record));
    for (const head of [...this.heads, ...other.heads]) this.graph.attach(head, node);
    const source = this.source === other.source ? this.source : undefined;
    return new KStream<K, V>(this.graph, [node], source, this.keyChanged || other.keyChanged);
  }

  /** Writes each record to `topic` (through the topic's produce chain), or to the topic `topicOf` picks for it. */
  to(topic: string | ((key: K, value: V) => string)): void {
    if (typeof topic === 'string') this.graph.sinkTopics.add(topic);
    const pick = typeof topic === 'string' ? () => topic : topic;
    this.then((record, _emit, context) => context.send(pick(record.key as K, record.value as V), record));
  }

  /** Groups by the current key, for count, reduce and aggregate into a store. */
  groupByKey(): KGroupedStream<K, V> {
    if (this.keyChanged) {
      throw new LightError('ERR13013', { what: 'groupByKey()', reason: 'follows a key change (map, flatMap, selectKey): grouping by a new key needs a repartition topic, which this version does not create yet; group by the input key, or write the re-keyed stream to a topic and read that' });
    }
    if (!this.source) throw new LightError('ERR13013', { what: 'groupByKey()', reason: 'is on a stream merged from several sources: a store belongs to the tasks of one source topic' });
    return new KGroupedStream<K, V>(this.graph, this.heads, this.source);
  }
}

/** A stream grouped by key, ready to aggregate into a named store. */
export class KGroupedStream<K, V> {
  constructor(
    private readonly graph: Graph,
    private readonly heads: readonly Node[],
    private readonly source: SourceNode,
  ) {}

  /** The number of records per key. */
  count(materialized: Materialized): KTable<K, number> {
    return this.aggregate(() => 0, (_key, _value, count) => count + 1, materialized);
  }

  /** Combines the values of a key: the first value as is, then reducer(aggregate, value). */
  reduce(reducer: (aggregate: V, value: V) => V, materialized: Materialized): KTable<K, V> {
    return this.fold<V>((key, value, current) => (current === undefined ? value : reducer(current, value)), materialized);
  }

  aggregate<A>(initializer: () => A, aggregator: (key: K, value: V, aggregate: A) => A, materialized: Materialized): KTable<K, A> {
    return this.fold<A>((key, value, current) => aggregator(key, value, current === undefined ? initializer() : current), materialized);
  }

  /** Records with a null key are skipped, as in Kafka Streams: a store key cannot be null. */
  private fold<A>(next: (key: K, value: V, current: A | undefined) => A, materialized: Materialized): KTable<K, A> {
    const name = materialized.store;
    this.graph.addStore(name, this.source);
    const node = new FunctionNode((record, emit, context) => {
      if (record.key === null || record.key === undefined) return;
      const store = context.store(name);
      const value = next(record.key as K, record.value as V, store.get(record.key) as A | undefined);
      store.put(record.key, value);
      emit({ ...record, value });
    });
    for (const head of this.heads) this.graph.attach(head, node);
    return new KTable<K, A>(this.graph, node, this.source, name);
  }
}

/** A table: the latest value per key in a store; each update can be read as a stream. */
export class KTable<K, V> {
  constructor(
    private readonly graph: Graph,
    private readonly node: Node,
    private readonly source: SourceNode,
    readonly storeName: string,
  ) {}

  /** The table's updates as a stream: one record per change, with the key's new value. */
  toStream(): KStream<K, V> {
    const node = new FunctionNode((record, emit) => emit(record));
    this.graph.attach(this.node, node);
    return new KStream<K, V>(this.graph, [node], this.source, false);
  }
}
