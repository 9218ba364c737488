import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Counter, Gauge, Registry } from 'prom-client';
import { registeredCounter, registeredGauge } from '../registered-metric.js';
import { ConsumeChains } from '../chain/consume-chains.js';
import type { ChainTable } from '../chain/chain-table.js';
import { LightError, reasonOf } from '../errors/light-error.js';
import type { Exchange, OutgoingRecord } from '../exchange.js';
import type { DriverMessage } from '../kafka/driver.js';
import { sendThroughChains, type ProducePath } from '../kafka/producer.js';
import { consumedRecord, type ProcessingControl, type RecordProcessor } from '../kafka/record-processor.js';
import type { Logger } from '../logger.js';
import { FORWARDED_HEADER, keyQueryPath, QueryServer, type KeyQueryResult } from './query-server.js';
import { plainCommitter, type Assignment, type GroupMember, type StreamsBatch, type StreamsClients } from '../kafka/streams-clients.js';
import type { StreamsSettings } from './streams-config.js';
import { changelogWrites, LmdbTaskStorage, MemoryTaskStorage, storeKeyOf, type KeyRange, type StoreEntry, type TaskStorage } from './stores.js';
import { StandbyTasks, type StandbyTaskInfo } from './standby.js';
import type { MembershipHooks } from '../kafka/streams-clients.js';
import type { ProcessorRecordMetadata } from './processor-api.js';
import { StreamTask, type TopologyOutput } from './task.js';
import { droppedRecordsCounter } from './dropped-records.js';
import { defaultGlobalDecoder, GlobalTables, type GlobalRecordDecoder } from './global-tables.js';
import { StreamsBuilder, type PunctuationContext, type Punctuator, type RefusedOutputs, type SourceNode, type TaskGroup, type Topology } from './topology.js';
import { RecordHeaders } from '../headers.js';
import { contextFromRecord, runWithContext } from '../request-context.js';
import { isPermanent, retryTransient } from '../kafka/transient.js';

export interface LightStreamsParts {
  settings: StreamsSettings;
  /** Where relative paths of kafka-streams.yml (state.dir) are resolved: the config folder's parent is not assumed. */
  baseDir: string;
  /** Makes the Kafka clients when the streams start; `taskOf` names the task of a topic-partition (the assignor keeps a task's partitions together). */
  createClients: (instance: { taskOf: (topic: string, partition: number) => string; processId: string; membership: MembershipHooks }) => StreamsClients;
  table: ChainTable;
  producePath: ProducePath;
  /** Runs input records through their consume chain under kafka-consumer.yml's failure policy (dead letters). */
  processor: RecordProcessor;
  metricsRegistry: Registry;
  /** The service's id: a label of the streams' metrics, as of the metrics handler's. */
  serviceId: string;
  /** fetch that carries the current request context's headers (a forwarded query keeps the caller's). */
  fetch: typeof fetch;
  /** The headers the query endpoint takes into the request context. */
  propagatedHeaders: readonly string[];
  /** How the records of a global table's topic are decoded (the service: kafka-consumer.yml's key and value formats). */
  decodeGlobal?: GlobalRecordDecoder;
  logger: Logger;
}

/** A task assigned to this instance (see LightStreams.localTasks). */
export interface LocalTask {
  id: string;
  partition: number;
  topics: string[];
  /** True once the task processes records (its producer fenced any previous owner, its stores restored). */
  open: boolean;
}

/** A store as queries read it: committed state of the tasks this instance owns. */
export interface ReadOnlyKeyValueStore<V = unknown> {
  get(key: unknown): V | undefined;
  /** Keys from `start` (inclusive) to `end` (exclusive), in key order. */
  range(start?: string, end?: string): StoreEntry<V>[];
  prefix(prefix: string): StoreEntry<V>[];
  all(): StoreEntry<V>[];
  /** The number of entries (committed) on this instance. */
  approximateCount(): number;
}

/**
 * LightStreams: stream processing with state stores over the service's chains. Each input record runs through
 * its topic's consume chain (security, validation, tracing, metrics, audit), then through the topology; each
 * output through its topic's produce chain, inside the input record's request context, so the JWT, correlation
 * id and trace context of an input travel with its outputs. Every commit.interval.ms a task commits its outputs,
 * its stores' changelog records and its input offset: in one transaction under exactly_once.
 */
export class LightStreams {
  private readonly streamsBuilder: StreamsBuilder;
  private topology: Topology | undefined;
  private clients: StreamsClients | undefined;
  /** The global tables of the topology, while the streams run. */
  private globals: GlobalTables | undefined;
  private readonly tasks = new Map<string, StreamTask>();
  /** Tasks being opened (producer fenced in, stores restored); a batch waits for its task. */
  private readonly opening = new Map<string, Promise<StreamTask>>();
  private assigned = new Set<string>();
  private chains: ConsumeChains | undefined;
  private timer: NodeJS.Timeout | undefined;
  private punctuationTimer: NodeJS.Timeout | undefined;
  private processorTimer: NodeJS.Timeout | undefined;
  /** Per punctuator and task: when it last ran there. */
  private readonly punctuated = new Map<Punctuator, Map<string, number>>();
  private running = false;
  /** Per store: its task group and partition count (a key's partition, hence its task). */
  private readonly storeGroups = new Map<string, { group: TaskGroup; partitions: number }>();
  /** Per task group of string topics: the partition count they share. */
  private readonly groupPartitions = new Map<TaskGroup, number>();
  private members: Promise<GroupMember[]> | undefined;
  private queryServer: QueryServer | undefined;
  private restoreMetrics: StreamsMetrics | undefined;
  /**
   * Revocations seen, and those the assignments after them were fully handled for: while they differ no task
   * commits (librdkafka, see revoke). Counted, not a flag: a second revocation during the handling of an assignment
   * keeps the hold.
   */
  private revocations = 0;
  private handledRevocations = 0;
  /** Tasks whose open is being retried in the background (one loop per task). */
  private readonly retryingOpen = new Set<string>();
  /** Set by stop(): a start still retrying gives up, one that completes closes its clients again. */
  private stopRequested = false;
  /** Waits under way (task open retries): a stop ends them at once. */
  private readonly pauses = new Set<() => void>();
  /** Standby replicas and the local state reported to the group (standby.ts), while the streams run. */
  private standbys: StandbyTasks | undefined;
  /** Why the streams stopped processing on their own (a task that can never open, failurePolicy: stop), until the next start. */
  private failed: LightError | undefined;

  constructor(private readonly parts: LightStreamsParts) {
    this.streamsBuilder = new StreamsBuilder(parts.settings.applicationId);
  }

  /** Registered when the streams start, so a service without a topology exports none of them. */
  private metrics(): StreamsMetrics {
    return (this.restoreMetrics ??= registerStreamsMetrics(this.parts.metricsRegistry));
  }

  get applicationId(): string {
    return this.parts.settings.applicationId;
  }

  /** The topology's builder: add sources, operations, stores and sinks before the service starts. */
  builder(): StreamsBuilder {
    return this.streamsBuilder;
  }

  /** True when the topology reads anything (the service starts the streams then). */
  get hasTopology(): boolean {
    return this.streamsBuilder.sourceCount > 0;
  }

  /** The changelog topic of a store: `<application.id>-<store>-changelog`, as Kafka Streams names it. */
  changelogTopic(store: string): string {
    return `${this.parts.settings.applicationId}-${store}-changelog`;
  }

  /**
   * Starts the streams. On a cluster that has just started or just created the topics, metadata may not be on every
   * broker yet ("This server does not host this topic-partition", no leader yet): such a transient error is retried
   * with back-off for up to streams start timeout (START_RETRY_MS), each attempt on fresh clients; anything else fails
   * the start at once.
   */
  async start(): Promise<void> {
    const topology = (this.topology = this.streamsBuilder.build());
    if (topology.sources.length === 0 && topology.globalTables.length === 0) return;
    const { settings, logger } = this.parts;
    this.metrics();
    this.stopRequested = false;
    this.failed = undefined;
    await retryTransient(
      () => this.startOnce(topology),
      START_RETRY_MS,
      (error, attempt, inMs) => logger.warn('streams cannot start yet (a transient Kafka error, such as metadata not on every broker); trying again', { attempt, inMs, error: reasonOf(error) }),
      { wait: (ms) => this.pause(ms), cancelled: () => this.stopRequested },
    );
    if (this.stopRequested) {
      // stop() came while the start was under way: what the start opened is closed again.
      await this.closeClients();
      return;
    }
    // Checked four times per interval (at most every second): a task commits within a quarter interval of its due time.
    this.timer = setInterval(() => this.commitDueTasks(), Math.max(1, Math.min(settings.commitIntervalMs, 4000) / 4));
    if (topology.punctuators.length > 0) {
      for (const punctuator of topology.punctuators) punctuator.init?.({ metricsRegistry: this.parts.metricsRegistry, logger: this.parts.logger });
      this.punctuationTimer = setInterval(() => this.punctuateDueTasks(), Math.min(...topology.punctuators.map(({ intervalMs }) => intervalMs)));
    }
    // Processors schedule their wall-clock punctuations at run time: checked every 100 ms.
    if (topology.usesProcessorApi) this.processorTimer = setInterval(() => this.punctuateProcessors(), 100);
    logger.info('streams started', { applicationId: settings.applicationId, processingGuarantee: settings.processingGuarantee, stores: [...topology.stores.keys()], globalTables: topology.globalTables.map(({ store }) => store) });
  }

  private async startOnce(topology: Topology): Promise<void> {
    const { settings, logger } = this.parts;
    const processId = this.processId();
    const standbys = (this.standbys = this.standbyTasksOf());
    const membership: MembershipHooks = {
      standbyReplicas: settings.numStandbyReplicas,
      stateful: (task) => this.statefulTask(task) !== undefined,
      report: () => standbys.report(processId, [...this.assigned]),
    };
    const clients = (this.clients = this.parts.createClients({ taskOf: (topic, partition) => this.taskIdOf(topic, partition), processId, membership }));
    standbys.start(clients);
    this.chains = this.composeChains(topology);
    this.handledRevocations = this.revocations;
    try {
      await this.createInternalTopics(topology, clients);
      const changelogs = [];
      for (const group of topology.groups) {
        if (group.stores.length === 0) continue;
        const partitions = this.groupPartitions.get(group)!;
        for (const store of group.stores) {
          changelogs.push({ topic: this.changelogTopic(store), partitions, configs: { 'cleanup.policy': 'compact' } });
          this.storeGroups.set(store, { group, partitions });
        }
      }
      await clients.ensureTopics(changelogs);
      // Global tables are restored before any task processes a record (a stream joined with one sees it whole).
      if (topology.globalTables.length > 0) {
        this.globals = this.openGlobalTables(topology);
        await this.globals.start(clients);
      }
      clients.consumer.onAssignment((assignment) => this.assign(assignment));
      clients.consumer.onRevocation((lost) => this.revoke(lost));
      await clients.producer.connect();
      this.running = !this.stopRequested;
      if (topology.sources.length > 0) {
        await clients.consumer.connect();
        await clients.consumer.subscribe(topology.sources.map((source) => source.topic));
        await clients.consumer.run((batch) => this.consumeBatch(batch));
      }
      if (settings.applicationServer) {
        this.queryServer = new QueryServer(settings.applicationServer, (store, key, forwarded) => this.answer(store, key, forwarded), this.parts.propagatedHeaders, logger);
        await this.queryServer.start();
      }
    } catch (error) {
      await this.closeClients();
      throw error;
    }
  }

  /** The global tables' runtime, on a store of their own: `<state.dir>/<application.id>/global` (or in memory). */
  private openGlobalTables(topology: Topology): GlobalTables {
    const { settings, logger, serviceId } = this.parts;
    const storage = settings.storeType === 'persistent' ? new LmdbTaskStorage(join(this.stateFolder(), 'global'), logger) : new MemoryTaskStorage();
    const metrics = this.metrics();
    return new GlobalTables(topology.globalTables, {
      storage,
      decode: this.parts.decodeGlobal ?? defaultGlobalDecoder,
      logger,
      restoreTimeoutMs: settings.restoreTimeoutMs,
      onRestored: (store, records) => metrics.restored.inc({ serviceId, store }, records),
      onRemaining: (store, partition, remaining) => metrics.remaining.set({ serviceId, store, partition: String(partition) }, remaining),
      onForget: (store, partition) => metrics.remaining.remove({ serviceId, store, partition: String(partition) }),
    });
  }

  /**
   * This instance's id, kept in `<state.dir>/<application.id>/process-id` (as Kafka Streams keeps its process id):
   * a restart on the same state reuses it, so librdkafka's transactional producer aborts what a crash left open.
   */
  private processId(): string {
    const folder = this.stateFolder();
    const file = join(folder, 'process-id');
    if (existsSync(file)) return readFileSync(file, 'utf8').trim();
    const id = randomUUID();
    mkdirSync(folder, { recursive: true });
    writeFileSync(file, id);
    return id;
  }

  /** The standby replicas' runtime of this start (standby.ts). */
  private standbyTasksOf(): StandbyTasks {
    const { settings, serviceId, logger, metricsRegistry } = this.parts;
    return new StandbyTasks({
      serviceId,
      logger,
      metricsRegistry,
      storeType: settings.storeType,
      standbyReplicas: settings.numStandbyReplicas,
      stateFolder: this.stateFolder(),
      statefulTask: (id) => this.statefulTask(id),
      changelogTopic: (store) => this.changelogTopic(store),
      activeHere: (id) => this.assigned.has(id) || this.tasks.has(id) || this.opening.has(id),
    });
  }

  /** The partition and stores of a task with state stores (a task group's, not a pattern source's); else undefined. */
  private statefulTask(id: string): { partition: number; stores: string[] } | undefined {
    for (const group of this.topology?.groups ?? []) {
      if (group.pattern || group.stores.length === 0 || !id.startsWith(`${group.name}-`)) continue;
      const rest = id.slice(group.name.length + 1);
      if (/^\d+$/.test(rest)) return { partition: Number(rest), stores: group.stores };
    }
    return undefined;
  }

  /**
   * The standby replicas this instance keeps now (Kafka Streams' standby tasks of metadataForLocalThreads): each
   * with its partition and, per store, the changelog offset its copy reached and how far behind the end it is.
   */
  standbyTasks(): StandbyTaskInfo[] {
    return this.standbys?.info() ?? [];
  }

  /** `<state.dir>/<application.id>`: the process id, and a folder per task. */
  private stateFolder(): string {
    const { settings, baseDir } = this.parts;
    return join(resolve(baseDir, settings.stateDir), settings.applicationId);
  }

  /** Stops taking records, commits what was processed, leaves the group and closes the tasks. */
  async stop(): Promise<void> {
    this.stopRequested = true;
    for (const wake of [...this.pauses]) wake();
    if (!this.clients) return;
    this.running = false;
    clearInterval(this.timer);
    clearInterval(this.punctuationTimer);
    clearInterval(this.processorTimer);
    await this.queryServer?.stop();
    this.queryServer = undefined;
    // Only tasks still assigned here commit (and none while a revocation is not handled: commitTask checks).
    const tasks = [...this.tasks.values()].filter((task) => this.assigned.has(task.id));
    await Promise.allSettled(tasks.map((task) => task.exclusive(() => this.commitTask(task))));
    await this.closeClients();
  }

  /**
   * The tasks assigned to this instance now (Kafka Streams' metadataForLocalThreads): each with its partition, its
   * input topics and whether it is open (producer fenced in, stores restored: processing) or still opening.
   */
  localTasks(): LocalTask[] {
    if (!this.topology) return [];
    return [...this.assigned].sort().map((id) => {
      const open = this.tasks.get(id);
      const partition = open?.partition ?? Number(id.slice(id.lastIndexOf('-') + 1));
      return { id, partition, topics: this.topicsOf(id), open: open !== undefined && !open.closed };
    });
  }

  /** Queries a store: the committed state of the partitions this instance owns. */
  store<V = unknown>(name: string): ReadOnlyKeyValueStore<V> {
    const topology = this.topology ?? this.streamsBuilder.build();
    if (topology.globalTables.some((table) => table.store === name)) return this.globalStore<V>(name);
    if (!topology.stores.has(name)) throw new LightError('ERR12013', { store: name, stores: storeNamesOf(topology) });
    const storages = (): TaskStorage[] => [...this.tasks.values()].filter((task) => task.storeNames.includes(name)).map((task) => task.storage);
    const scan = (range: KeyRange): StoreEntry<V>[] =>
      storages()
        .flatMap((storage) => storage.range(name, range) as StoreEntry<V>[])
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return {
      get: (key) => {
        const id = storeKeyOf(key);
        for (const storage of storages()) {
          const value = storage.get(name, id);
          if (value !== undefined) return value as V;
        }
        return undefined;
      },
      range: (start, end) => scan({ ...(start !== undefined ? { start } : {}), ...(end !== undefined ? { end } : {}) }),
      prefix: (prefix) => scan({ prefix }),
      all: () => scan({}),
      approximateCount: () => storages().reduce((sum, storage) => sum + storage.range(name, {}).length, 0),
    };
  }

  /** A global table's store: the whole table, on every instance (empty while the streams do not run). */
  private globalStore<V>(name: string): ReadOnlyKeyValueStore<V> {
    const scan = (range: KeyRange): StoreEntry<V>[] => (this.globals?.range(name, range) ?? []) as StoreEntry<V>[];
    return {
      get: (key) => this.globals?.get(name, key) as V | undefined,
      range: (start, end) => scan({ ...(start !== undefined ? { start } : {}), ...(end !== undefined ? { end } : {}) }),
      prefix: (prefix) => scan({ prefix }),
      all: () => scan({}),
      approximateCount: () => scan({}).length,
    };
  }

  /**
   * The value of `key` in a store, from whichever instance owns the key's partition: this one, or the owner its
   * application.server advertises (asked over HTTP with the current request context's headers).
   */
  query<V = unknown>(store: string, key: string): Promise<KeyQueryResult<V>> {
    return this.answer(store, key, false) as Promise<KeyQueryResult<V>>;
  }

  private async answer(store: string, key: string, forwarded: boolean): Promise<KeyQueryResult> {
    const topology = this.topology ?? this.streamsBuilder.build();
    const here = this.parts.settings.applicationServer ?? 'local';
    const global = topology.globalTables.find((table) => table.store === store);
    if (global) {
      // Every instance holds a global table whole: answered here, whoever was asked.
      if (!this.globals || !this.clients) throw new LightError('ERR12014', { store, key, partition: -1, reason: 'the streams of this instance are not running' });
      const value = this.globals.get(store, key);
      const partition = this.clients.partitionOf(key, Math.max(1, this.globals.partitionCount(store)));
      return { store, key, ...(value !== undefined ? { value } : {}), partition, answeredBy: here };
    }
    if (!topology.stores.has(store)) throw new LightError('ERR12013', { store, stores: storeNamesOf(topology) });
    const owner = this.storeGroups.get(store);
    const clients = this.clients;
    if (!owner || !clients) throw new LightError('ERR12014', { store, key, partition: -1, reason: 'the streams of this instance are not running' });
    // A store key that is not a record key (a window's, a processed command's) goes to its record key's partition.
    const routingKey = topology.stores.get(store)!.routingKey;
    const partition = clients.partitionOf(routingKey ? routingKey(key) : key, owner.partitions);
    const id = `${owner.group.name}-${partition}`;
    const topics = owner.group.sources.map((source) => source.topic as string);
    const unavailable = (reason: string): LightError => new LightError('ERR12014', { store, key, partition, reason });
    for (let attempt = 0; attempt < 5; attempt++) {
      // A task being opened answers once its stores are restored.
      await this.opening.get(id)?.catch(() => undefined);
      const task = this.tasks.get(id);
      if (task) {
        const value = task.storage.get(store, storeKeyOf(key));
        return { store, key, ...(value !== undefined ? { value } : {}), partition, answeredBy: here };
      }
      if (forwarded) throw unavailable(`${here} does not own partition ${partition} (any more)`);
      const members = await (attempt === 0 && this.members ? this.members : (this.members = clients.groupMembers()));
      const member = members.find((candidate) => candidate.assignment.some(({ topic, partitions }) => topics.includes(topic) && partitions.includes(partition)));
      if (member?.endpoint && member.endpoint !== here) {
        try {
          const response = await this.parts.fetch(`http://${member.endpoint}${keyQueryPath(store, key)}`, { headers: { [FORWARDED_HEADER]: '1' } });
          if (response.ok) return (await response.json()) as KeyQueryResult;
          if (response.status !== 503) {
            const body = (await response.json().catch(() => ({}))) as { message?: string };
            throw unavailable(`${member.endpoint} answered ${response.status}: ${body.message ?? ''}`);
          }
        } catch (error) {
          if (error instanceof LightError) throw error;
          this.parts.logger.warn('forwarding a query failed; asking the group again', { store, key, owner: member.endpoint, error: reasonOf(error) });
        }
      }
      // No owner yet (a rebalance under way), or it did not answer: ask the group again shortly.
      this.members = undefined;
      await sleep(300 * (attempt + 1));
    }
    throw unavailable('no member of the group owns the partition, or its owner does not answer (a rebalance may be under way)');
  }

  /**
   * Creates the repartition topics (with their upstream sources' partition count) and checks that the topics of
   * each task group are co-partitioned: partition p of each is one task.
   */
  private async createInternalTopics(topology: Topology, clients: StreamsClients): Promise<void> {
    const counts = new Map<string, number>();
    const countOf = async (topic: string): Promise<number> => {
      if (!counts.has(topic)) counts.set(topic, await clients.partitionCount(topic));
      return counts.get(topic)!;
    };
    const internal = [];
    for (const { topic, upstream } of topology.repartitionTopics) {
      let partitions = 0;
      for (const source of upstream) {
        if (typeof source.topic !== 'string') throw new LightError('ERR13013', { what: `repartition topic ${topic}`, reason: `reads from the pattern ${String(source.topic)}, whose partition count is not known in advance` });
        partitions = Math.max(partitions, await countOf(source.topic));
      }
      internal.push({ topic, partitions, configs: {} });
      counts.set(topic, partitions);
    }
    await clients.ensureTopics(internal);
    for (const group of topology.groups) {
      if (group.pattern) continue;
      const partitionCounts = new Map<string, number>();
      for (const source of group.sources) partitionCounts.set(source.topic as string, await countOf(source.topic as string));
      const missing = [...partitionCounts].filter(([, count]) => count === 0).map(([topic]) => topic);
      if (missing.length > 0) throw new LightError('ERR12012', { reason: `source topic ${missing.join(', ')} does not exist: create it before the streams start` });
      if (new Set(partitionCounts.values()).size > 1) {
        throw new LightError('ERR12012', { reason: `topics processed together (a store or a join) must have the same partition count: ${[...partitionCounts].map(([topic, count]) => `${topic} has ${count}`).join(', ')}` });
      }
      this.groupPartitions.set(group, [...partitionCounts.values()][0]!);
    }
  }

  private groupOf(topic: string): TaskGroup | undefined {
    return this.topology!.groups.find((group) => group.sources.some((source) => (typeof source.topic === 'string' ? source.topic === topic : source.topic.test(topic))));
  }

  /** The task a topic-partition belongs to: `<group name>-<partition>` (a pattern source's topics: `<topic>-<partition>`). */
  private taskIdOf(topic: string, partition: number): string {
    const group = this.groupOf(topic);
    return !group || group.pattern ? `${topic}-${partition}` : `${group.name}-${partition}`;
  }

  private composeChains(topology: Topology): ConsumeChains {
    const chains = new ConsumeChains(this.parts.table);
    for (const source of topology.sources) chains.register(source.topic, (exchange) => this.runTopology(exchange));
    return chains;
  }

  private sourceOf(topic: string): SourceNode | undefined {
    return this.topology!.sources.find((source) => (typeof source.topic === 'string' ? source.topic === topic : source.topic.test(topic)));
  }

  /** The business handler of every source topic: the record through the topology, its outputs through their produce chains. */
  private async runTopology(exchange: Exchange): Promise<void> {
    const id = this.taskIdOf(exchange.topic, exchange.partition!);
    const task = this.tasks.get(id);
    const source = this.sourceOf(exchange.topic);
    if (!task || !source) throw new LightError('ERR12011', { task: id, reason: 'the partition is not assigned to this instance any more' });
    const metadata = (): ProcessorRecordMetadata => ({ topic: exchange.topic, partition: exchange.partition!, offset: exchange.offset ?? '', headers: Object.fromEntries([...exchange.headers].map(([name, value]) => [name, value.toString('utf8')])) });
    const outputs = task.runTopology(source, { key: exchange.key, value: exchange.value, timestamp: exchange.timestamp ?? String(Date.now()) }, metadata);
    for (const group of byTopic(outputs)) {
      try {
        await sendThroughChains(this.parts.producePath, group.topic, group.records, task.deferredWriter);
      } catch (error) {
        // The produce chain refused this record itself (its schema, its token): an output that names a replacement
        // outcome gets it; anything else (a broker failure, a handler bug, a service stopping) fails the record.
        if (!group.onRefused || !(error instanceof LightError) || !REFUSALS.has(error.code)) throw error;
        task.discardRecord();
        const replacement = group.onRefused(error);
        this.parts.logger.warn('an output was refused by its produce chain; the record writes its replacement outcome instead', { task: id, topic: group.topic, code: error.code, reason: error.message, replacement: replacement.map(({ topic }) => topic) });
        try {
          for (const { topic, records } of byTopic(replacement)) await sendThroughChains(this.parts.producePath, topic, records, task.deferredWriter);
        } catch (replacementError) {
          this.parts.logger.error('the replacement outcome was refused too: the input record goes to its dead-letter topic with nothing written', { task: id, code: (replacementError as LightError).code, reason: reasonOf(replacementError) });
          throw replacementError;
        }
        return;
      }
    }
  }

  /**
   * Before the client rejoins for a rebalance (librdkafka): commits stop until the new assignment is handled — a
   * commit after the rejoin would carry the new generation's metadata, which KIP-447 accepts even for a partition
   * that went to another member (it checks the generation, not the owner), and could land after the new owner read
   * the committed offsets. The batches and commits under way finish first, in the generation they belong to. When
   * the assignment was lost (this member was dropped from the group), every task is closed and its work dropped.
   */
  private async revoke(lost: boolean): Promise<void> {
    this.revocations++;
    const tasks = [...this.tasks.values()];
    await Promise.all(tasks.map((task) => task.exclusive(async () => undefined)));
    if (!lost) return;
    // Nothing is assigned here any more: no open (or open retry) goes on for these partitions.
    this.assigned = new Set();
    for (const task of tasks) {
      this.tasks.delete(task.id);
      await task.exclusive(() => this.closeDropping(task, 'warn', 'streams task closed: this instance was dropped from the group, another may own it'));
    }
  }

  /**
   * Closes a task, dropping its uncommitted work (whoever owns the partition next reads those records again), and
   * says so with how much was dropped. The caller holds the task's turn (exclusive) and took it out of `tasks`.
   */
  private async closeDropping(task: StreamTask, level: 'info' | 'warn', message: string, fields: Record<string, unknown> = {}): Promise<void> {
    const dropped = task.uncommittedOffsets;
    this.standbys?.remember(task.id, task.storage);
    await task.close();
    this.parts.logger[level](message, { task: task.id, ...fields, ...(dropped > 0 ? { droppedUncommittedOffsets: dropped } : {}) });
  }

  /**
   * After a rebalance. A task of a partition no longer owned closes and drops its uncommitted work: committing it
   * now could land after the next owner read the committed offsets (on librdkafka this member is still in the
   * group, so KIP-447 would not refuse it), and the next owner processes those records anyway. A task kept here
   * is checked against the group's committed offsets: if another instance committed for it meanwhile (this one
   * was out of the group, a zombie), its state is stale and it is opened anew. New tasks open (producer fenced,
   * committed offsets read, stores restored); one that cannot open is retried with back-off.
   */
  private async assign(assignment: Assignment): Promise<void> {
    const upTo = this.revocations;
    // The hold ends only when this assignment was handled whole (not when the streams are stopping: stop() must
    // not commit a revoked task) and no revocation came meanwhile.
    if (await this.takeAssignment(assignment)) this.handledRevocations = Math.max(this.handledRevocations, upTo);
  }

  private get commitsHeld(): boolean {
    return this.revocations !== this.handledRevocations;
  }

  /** True when the assignment was handled whole (false: the streams are stopping). */
  private async takeAssignment(assignment: Assignment): Promise<boolean> {
    if (!this.running || !this.clients) return false;
    this.members = undefined;
    const owned = new Map<string, number>();
    for (const { topic, partitions } of assignment) for (const partition of partitions) owned.set(this.taskIdOf(topic, partition), partition);
    const wanted = new Set(owned.keys());
    this.assigned = wanted;
    // Where this instance keeps standbys is read from the group now, beside the opens (standby.ts).
    this.standbys?.afterRebalance();
    for (const [id, task] of [...this.tasks]) {
      if (wanted.has(id)) continue;
      this.tasks.delete(id);
      await task.exclusive(() => this.closeDropping(task, 'info', 'streams task closed (partition revoked)'));
    }
    for (const [id, task] of [...this.tasks]) {
      await task.exclusive(async () => {
        if (task.closed || !this.clients) return;
        let reason: string;
        try {
          const committed = await this.clients.committedOffsets(this.topicsOf(id), task.partition);
          if (task.isCurrentWith(committed)) return;
          reason = 'another instance committed for it while this one was out of the group';
        } catch (error) {
          // Not known to be current: its work is dropped and the records are read again.
          reason = `its committed offsets cannot be read (${reasonOf(error)})`;
        }
        this.tasks.delete(id);
        await this.closeDropping(task, 'warn', 'streams task reopened', { reason });
      });
    }
    if (!this.running) return false;
    // One attempt each now; a task that cannot open is retried in the background, so the batches of the other tasks
    // (which wait for this assignment to be handled) do not wait for it.
    await Promise.all(
      [...owned].map(async ([id, partition]) => {
        if (this.tasks.has(id)) return;
        try {
          await this.taskFor(id, partition);
        } catch (error) {
          // A stop that began while the task opened is not a failure to report (retryOpen checks the same).
          if (!this.running) return;
          if (isPermanent(error)) return this.failOpen(id, error);
          this.parts.logger.error('streams task cannot open; trying again', { task: id, attempt: 1, inMs: openRetryDelay(1), error: reasonOf(error) });
          void this.retryOpen(id, partition);
        }
      }),
    );
    return this.running;
  }

  /** The input topics of a task (all of its group's topics, or the one topic of a pattern source's task). */
  private topicsOf(id: string): string[] {
    const group = this.topology!.groups.find((candidate) => !candidate.pattern && id.startsWith(`${candidate.name}-`) && /^\d+$/.test(id.slice(candidate.name.length + 1)));
    if (group) return group.sources.map((source) => source.topic as string);
    return [id.slice(0, id.lastIndexOf('-'))];
  }

  /**
   * Tries again to open a task that could not open (a leader moving, a broker down, its folder not writable), with
   * back-off, for as long as its partition is assigned here: a partition whose input is drained does not wait for a
   * next batch. It ends when the task opens, the partition goes elsewhere, or the streams stop.
   */
  private async retryOpen(id: string, partition: number): Promise<void> {
    if (this.retryingOpen.has(id)) return;
    this.retryingOpen.add(id);
    try {
      for (let attempt = 1; ; attempt++) {
        await this.pause(openRetryDelay(attempt));
        if (!this.running || !this.assigned.has(id)) {
          // Given up here: a restore the last attempt left unfinished is not this instance's any more.
          this.forgetRestores(this.storesOf(id, partition), partition);
          return;
        }
        if (this.tasks.has(id)) return;
        try {
          await this.taskFor(id, partition);
          this.parts.logger.info('streams task opened after retrying', { task: id, attempts: attempt + 1 });
          return;
        } catch (error) {
          if (!this.running || !this.assigned.has(id)) return;
          if (isPermanent(error)) return this.failOpen(id, error);
          this.parts.logger.error('streams task cannot open; trying again', { task: id, attempt: attempt + 1, inMs: openRetryDelay(attempt + 1), error: reasonOf(error) });
        }
      }
    } finally {
      this.retryingOpen.delete(id);
    }
  }

  /**
   * A task that cannot open and that no retry would open (access refused, a setting the broker refuses, a
   * configuration error): the streams stop processing — every task would meet it — and say why, in the log and in
   * `failure` (the service's readiness is DOWN). The partitions stay with this instance until it stops.
   */
  private failOpen(id: string, error: unknown): void {
    if (this.failed) return;
    this.parts.logger.error('streams stopped: a task cannot open and trying again cannot help; fix the cause and restart the service', { task: id, error: reasonOf(error) });
    this.stopOnFailure(id, `it cannot open and trying again cannot help: ${reasonOf(error)}`, error);
  }

  /** The streams stop processing on their own; the first reason stays in `failure` (ERR12011) until the next start. */
  private stopOnFailure(task: string, reason: string, cause: unknown): void {
    this.failed ??= new LightError('ERR12011', { task, reason }, { cause });
    this.running = false;
    clearInterval(this.timer);
  }

  /** Why the streams stopped processing on their own (ERR12011: a task that can never open, a record failed under failurePolicy: stop), or undefined. */
  get failure(): LightError | undefined {
    return this.failed;
  }

  /** The stores of a task (none for a pattern source's task). */
  private storesOf(id: string, partition: number): string[] {
    return this.topology!.groups.find((group) => !group.pattern && id === `${group.name}-${partition}`)?.stores ?? [];
  }

  /**
   * Drops the restore gauge of stores whose restore stopped unfinished and will not go on here (the partition went
   * elsewhere, or the streams stop): a value left above 0 would say a restore is under way that no one runs.
   */
  private forgetRestores(stores: string[], partition: number): void {
    if (!this.restoreMetrics) return;
    for (const store of stores) this.restoreMetrics.remaining.remove({ serviceId: this.parts.serviceId, store, partition: String(partition) });
  }

  /** A wait that a stop cuts short. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pauses.delete(wake);
        resolve();
      }, ms);
      const wake = (): void => {
        clearTimeout(timer);
        this.pauses.delete(wake);
        resolve();
      };
      this.pauses.add(wake);
    });
  }

  private taskFor(id: string, partition: number): Promise<StreamTask> {
    const task = this.tasks.get(id);
    if (task) return Promise.resolve(task);
    let opening = this.opening.get(id);
    if (!opening) {
      opening = this.openTask(id, partition).finally(() => this.opening.delete(id));
      this.opening.set(id, opening);
    }
    return opening;
  }

  /**
   * Opens a task in the order exactly-once needs: the producer first — opening it fences a previous owner and
   * completes or aborts its open transaction — then the group's committed offsets (where the task starts: stable
   * now), then the stores up to their changelogs' ends (stable too).
   */
  private async openTask(id: string, partition: number): Promise<StreamTask> {
    const { settings, logger } = this.parts;
    const clients = this.clients;
    if (!clients || !this.running) throw new LightError('ERR12011', { task: id, reason: 'the streams are stopping' });
    const storeNames = this.storesOf(id, partition);
    const exactlyOnce = settings.processingGuarantee === 'exactly_once';
    let committer;
    if (exactlyOnce) {
      committer = await clients.transactionalCommitter(id);
    } else {
      committer = plainCommitter(clients.producer.write, (offsets) => clients.consumer.commitOffsets(offsets));
    }
    const folder = join(this.stateFolder(), id);
    let storage: TaskStorage;
    // A warm standby of the task here hands its stores over: the restore reads only what it had not read yet.
    const warm = storeNames.length > 0 ? this.standbys?.take(id) : undefined;
    try {
      storage = warm?.storage ?? (storeNames.length > 0 && settings.storeType === 'persistent' ? new LmdbTaskStorage(folder, logger) : new MemoryTaskStorage());
    } catch (error) {
      await committer.close().catch(() => undefined);
      throw error;
    }
    const dropped = (reason: string, store: string | undefined): void => void droppedRecordsCounter(this.parts.metricsRegistry).inc({ serviceId: this.parts.serviceId, reason, store: store ?? '' });
    const task = new StreamTask(id, partition, storeNames, storage, committer, (store) => this.changelogTopic(store), exactlyOnce, logger, dropped);
    task.globalStore = (name) => this.globals?.store(name);
    let restored = 0;
    try {
      task.startAt(await clients.committedOffsets(this.topicsOf(id), partition));
      for (const store of storeNames) restored += await this.restore(task, store);
    } catch (error) {
      await task.close();
      // A restore left unfinished stays in the gauge while it is retried here; not once the partition went elsewhere.
      if (!this.running || !this.assigned.has(id)) this.forgetRestores(storeNames, partition);
      throw LightError.wrap(error, 'ERR12011', { task: task.id });
    }
    if (!this.running || this.clients !== clients || !this.assigned.has(id)) {
      await task.close();
      throw new LightError('ERR12011', { task: id, reason: this.running ? 'its partition is not assigned here any more' : 'the streams are stopping' });
    }
    this.tasks.set(task.id, task);
    if (warm) logger.info('streams task opened from a warm standby', { task: task.id, stores: storeNames, restored, standbyCheckpoints: warm.checkpoints, ...(warm.lag !== undefined ? { standbyLag: warm.lag } : {}) });
    else logger.info('streams task opened', { task: task.id, stores: storeNames, restored });
    return task;
  }

  /**
   * Brings a store up to its changelog's end: from the local checkpoint when there is one, else from the start.
   * Returns how many changelog records it applied.
   */
  private async restore(task: StreamTask, store: string): Promise<number> {
    const { settings, logger } = this.parts;
    const topic = this.changelogTopic(store);
    const end = (await this.clients!.endOffsets(topic)).get(task.partition) ?? '0';
    let from = task.storage.checkpoint(store);
    if (from === undefined || BigInt(from) > BigInt(end)) {
      // No checkpoint (new or lost local state), or one past the changelog's end (the changelog was recreated).
      task.storage.clear(store);
      from = '0';
    }
    const labels = { serviceId: this.parts.serviceId, store, partition: String(task.partition) };
    const total = BigInt(end) - BigInt(from);
    if (total > 0n) logger.info('restoring store', { store, task: task.id, from, to: end, records: total.toString() });
    this.metrics().remaining.set(labels, Number(total > 0n ? total : 0n));
    let applied = 0;
    let nextLog = settings.restoreLogEveryRecords;
    await this.clients!.readPartition(
      topic,
      task.partition,
      { from, to: end },
      (messages: DriverMessage[]) => {
        task.storage.apply(store, changelogWrites(messages), undefined);
        applied += messages.length;
        this.metrics().restored.inc({ serviceId: this.parts.serviceId, store }, messages.length);
        const last = messages[messages.length - 1]!;
        this.metrics().remaining.set(labels, Math.max(0, Number(BigInt(end) - BigInt(last.offset) - 1n)));
        if (applied >= nextLog) {
          nextLog += settings.restoreLogEveryRecords;
          logger.info('restoring store', { store, task: task.id, applied, at: last.offset, to: end });
        }
      },
      settings.restoreTimeoutMs,
    );
    task.storage.apply(store, new Map(), end);
    this.metrics().remaining.set(labels, 0);
    if (total > 0n) logger.info('store restored', { store, task: task.id, applied, checkpoint: end });
    return applied;
  }

  private async consumeBatch(batch: StreamsBatch): Promise<void> {
    const { topic, partition } = batch;
    const id = this.taskIdOf(topic, partition);
    if (!this.running || !this.assigned.has(id)) {
      // Streams stopped on a failure stay in the group; a batch left unresolved comes straight back (kafkajs), so
      // without a wait this would spin.
      if (this.failed) await this.pause(1000);
      return;
    }
    const route = this.chains!.routeFor(topic);
    if (!route) return;
    let task: StreamTask;
    try {
      task = await this.taskFor(id, partition);
    } catch (error) {
      // Not fetched on until the task opens: the batch comes again.
      if (isPermanent(error)) this.failOpen(id, error);
      else this.parts.logger.error('streams task cannot open', { task: id, error: reasonOf(error) });
      const first = batch.messages[0];
      if (first) this.clients?.consumer.seek(topic, partition, first.offset);
      await this.pause(1000);
      return;
    }
    const control: ProcessingControl = { isRunning: () => this.running && batch.isRunning() && !task.closed, heartbeat: batch.heartbeat };
    const { commitIntervalMs } = this.parts.settings;
    // The group session is kept alive while a batch runs (kafkajs heartbeats only when asked): a batch longer than
    // session.timeout.ms would otherwise get this member dropped while it goes on processing, a zombie.
    let lastHeartbeat = Date.now();
    await task.exclusive(async () => {
      if (task.closed) return;
      for (const message of batch.messages) {
        if (!control.isRunning() || batch.isStale() || batch.handBack()) break;
        if (Date.now() - lastHeartbeat >= HEARTBEAT_EVERY_MS) {
          // A rebalance under way throws here: the batch ends, the client rejoins, the task keeps what it did.
          await batch.heartbeat();
          lastHeartbeat = Date.now();
        }
        if (task.hasDone(topic, message.offset)) {
          batch.resolveOffset(message.offset);
          continue;
        }
        const outcome = await this.parts.processor.process(consumedRecord(topic, partition, message), route, control, batch.highWatermark);
        if (outcome.kind === 'interrupted') break;
        if (outcome.kind === 'stopped') {
          // failurePolicy: stop — what came before is committed; the failed record is read again after a restart.
          await this.commitTask(task);
          this.stopOnFailure(task.id, `a record failed under failurePolicy: stop (${topic}-${partition}@${message.offset}): ${reasonOf(outcome.error)}`, outcome.error);
          return;
        }
        task.recordDone(topic, message, outcome.kind === 'processed');
        batch.resolveOffset(message.offset);
        // commit.interval.ms holds inside a long batch too. A failed commit closed the task and seeked back.
        if (task.isCommitDue(commitIntervalMs) && !(await this.commitTask(task).then(() => true, () => false))) return;
      }
      if (task.isCommitDue(commitIntervalMs)) await this.commitTask(task).catch(() => undefined);
    });
  }

  /** Runs each punctuator on the open tasks of its group where its interval has passed (see Punctuator). */
  private punctuateDueTasks(): void {
    if (!this.running) return;
    const now = Date.now();
    for (const punctuator of this.topology!.punctuators) {
      let last = this.punctuated.get(punctuator);
      if (!last) this.punctuated.set(punctuator, (last = new Map()));
      const topic = String(punctuator.sources[0]!.topic);
      for (const task of this.tasks.values()) {
        if (task.closed || !this.assigned.has(task.id) || this.taskIdOf(topic, task.partition) !== task.id) continue;
        if (now - (last.get(task.id) ?? 0) < punctuator.intervalMs) continue;
        last.set(task.id, now);
        void task.exclusive(() => this.punctuate(task, punctuator)).catch(() => undefined);
      }
    }
  }

  /** One punctuation on one task: each due unit on its own, its outputs through their produce chains (see Punctuator). */
  private async punctuate(task: StreamTask, punctuator: Punctuator): Promise<void> {
    if (task.closed || !this.running) return;
    const { logger, metricsRegistry } = this.parts;
    const context: PunctuationContext = {
      now: Date.now(),
      taskId: task.id,
      partition: task.partition,
      metricsRegistry,
      logger,
      store: (name) => task.store(name),
      send: (topic, record, onRefused) => task.send(topic, record, onRefused),
      entries: (name) => task.entries(name),
      streamTime: () => task.streamTime(),
    };
    let units: { name: string; run: () => void }[];
    try {
      units = punctuator.due(context);
    } catch (error) {
      logger.error('a punctuation failed to list its due work; it is tried again at the next one', { task: task.id, error: reasonOf(error) });
      return;
    }
    await this.runPunctuationUnits(task, units);
  }

  /** The Processor API's wall-clock punctuations due on each open task (KStream.process, schedule()). */
  private punctuateProcessors(): void {
    if (!this.running) return;
    const now = Date.now();
    for (const task of this.tasks.values()) {
      if (task.closed || !this.assigned.has(task.id) || !task.schedules.hasWallClock) continue;
      void task.exclusive(async () => {
        if (task.closed || !this.running) return;
        await this.runPunctuationUnits(task, task.schedules.dueWallClock(now));
      }).catch(() => undefined);
    }
  }

  /** Each unit of a punctuation on its own, its outputs through their produce chains; then a commit if one is due. */
  private async runPunctuationUnits(task: StreamTask, units: { name: string; run: () => void }[]): Promise<void> {
    if (units.length === 0) return;
    const { logger, producePath } = this.parts;
    for (const unit of units) {
      try {
        const outputs = task.runPunctuation(unit.run);
        for (const { topic, record } of outputs) {
          const headers = RecordHeaders.from(record.context ?? {});
          const outgoing: OutgoingRecord = { key: outgoingKey(record.key), value: record.value, timestamp: record.timestamp };
          await runWithContext(contextFromRecord(headers, this.parts.propagatedHeaders), () => sendThroughChains(producePath, topic, [outgoing], task.deferredWriter));
        }
        task.punctuationDone(true);
      } catch (error) {
        task.punctuationDone(false);
        logger.error('a punctuation unit failed; nothing of it is kept and it is tried again at the next punctuation', { task: task.id, unit: unit.name, code: (error as LightError).code, error: reasonOf(error) });
      }
    }
    if (task.isCommitDue(this.parts.settings.commitIntervalMs)) await this.commitTask(task).catch(() => undefined);
  }

  private commitDueTasks(): void {
    for (const task of this.tasks.values()) {
      if (task.isCommitDue(this.parts.settings.commitIntervalMs)) void task.exclusive(() => this.commitTask(task)).catch(() => undefined);
    }
  }

  /**
   * Commits a task. When the commit fails (a broker failure, or another instance fenced this one), the task's
   * uncommitted work is dropped and the task closes; the partition is read again from its committed offset by
   * whoever owns it next (this instance reopens the task at its next batch if it still owns the partition).
   */
  private async commitTask(task: StreamTask): Promise<void> {
    // Between a revocation and the next assignment nothing commits (see revoke): the work waits, or is dropped.
    if (task.closed || !task.hasUncommitted || this.commitsHeld) return;
    const from = [...task.uncommittedFrom];
    try {
      await task.commit();
    } catch (error) {
      this.parts.logger.error('streams commit failed; the task reopens from its committed offset', { task: task.id, error: reasonOf(error) });
      this.tasks.delete(task.id);
      await task.close();
      for (const [topic, offset] of from) this.clients?.consumer.seek(topic, task.partition, offset);
      throw LightError.wrap(error, 'ERR12011', { task: task.id });
    }
  }

  private async closeClients(): Promise<void> {
    const clients = this.clients;
    this.clients = undefined;
    this.running = false;
    this.assigned = new Set();
    await clients?.consumer.disconnect().catch(() => undefined);
    const standbys = this.standbys;
    this.standbys = undefined;
    await standbys?.stop();
    const globals = this.globals;
    this.globals = undefined;
    await globals?.stop();
    for (const task of this.tasks.values()) await task.close();
    this.tasks.clear();
    await clients?.disconnect();
  }
}

/** The stores a topology declares (tasks' and global tables'), for an error message. */
function storeNamesOf(topology: Topology): string {
  return [...topology.stores.keys(), ...topology.globalTables.map(({ store }) => store)].join(', ') || 'none';
}

/** How long a start keeps trying on transient errors (metadata of new topics not on every broker yet). */
const START_RETRY_MS = 60_000;

/**
 * What a produce chain answers when it refuses a record itself — its schema (JSON Schema, Avro encoding), its
 * serialisation, its caller's token or scopes — and so what an output's replacement outcome stands in for
 * (RefusedOutputs). Anything else (a registry that does not know the schema, a handler bug, a service not started or
 * stopping, a broker failure) fails the input record, which is retried or dead-lettered as before.
 */
const REFUSALS: ReadonlySet<string> = new Set(['ERR11000', 'ERR11001', 'ERR11006', 'ERR11010', 'ERR10000', 'ERR10001', 'ERR10002', 'ERR10003', 'ERR10004', 'ERR10005', 'ERR10006', 'ERR10007']);

/** A task that cannot open is tried again after 0.5 s, then twice as long each time, up to 10 s. */
const OPEN_RETRY_FIRST_MS = 500;
const OPEN_RETRY_MAX_MS = 10_000;

/** The wait after failed open attempt `attempt` (1, 2, ...). */
function openRetryDelay(attempt: number): number {
  return Math.min(OPEN_RETRY_MAX_MS, OPEN_RETRY_FIRST_MS * 2 ** (attempt - 1));
}
/** How often a running batch asks its client to heartbeat (kafkajs sends one only when heartbeat.interval.ms passed). */
const HEARTBEAT_EVERY_MS = 500;

/** The metrics LightStreams exports (restoration progress), labelled by serviceId as the metrics handler's are. */
export interface StreamsMetrics {
  restored: Counter<'serviceId' | 'store'>;
  remaining: Gauge<'serviceId' | 'store' | 'partition'>;
}

/** Registers (or finds) LightStreams' metrics in a registry. */
export function registerStreamsMetrics(registry: Registry): StreamsMetrics {
  return {
    restored: registeredCounter(registry, { name: 'light_kafka_streams_restored_records_total', help: 'Changelog records applied to state stores while restoring', labelNames: ['serviceId', 'store'] }),
    remaining: registeredGauge(registry, {
      name: 'light_kafka_streams_restore_remaining_records',
      help: 'Changelog records left to restore per store partition (0 when restored; no series while no restore of it is under way here)',
      labelNames: ['serviceId', 'store', 'partition'],
    }),
  };
}

/** Consecutive outputs grouped by topic, in the order the topology sent them. */
function byTopic(outputs: TopologyOutput[]): { topic: string; records: OutgoingRecord[]; onRefused?: RefusedOutputs }[] {
  const groups: { topic: string; records: OutgoingRecord[]; onRefused?: RefusedOutputs }[] = [];
  for (const { topic, record, onRefused } of outputs) {
    const outgoing: OutgoingRecord = { key: outgoingKey(record.key), value: record.value, timestamp: record.timestamp };
    let last = groups[groups.length - 1];
    if (!last || last.topic !== topic) groups.push((last = { topic, records: [] }));
    last.records.push(outgoing);
    if (onRefused) last.onRefused ??= onRefused;
  }
  return groups;
}

/** A topology record's key as a Kafka record key: strings and bytes as they are, other values as their store key. */
function outgoingKey(key: unknown): string | Buffer | null {
  return key === null || key === undefined ? null : typeof key === 'string' || Buffer.isBuffer(key) ? key : storeKeyOf(key);
}
