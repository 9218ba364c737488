import { RecordHeaders } from '../headers.js';
import type { DriverMessage, DriverTransaction, DriverTransactionalProducer, TopicOffsets } from '../kafka/driver.js';
import type { Logger } from '../logger.js';
import type { BatchWriter, PartitionAck, TransportMessage } from '../transport.js';
import { assertStorableKey, DELETED, SortedKeyIndex, storeKeyOf, type PendingValue, type TaskStorage } from './stores.js';
import type { TaskCommitter } from '../kafka/streams-clients.js';
import type { DropReason } from './dropped-records.js';
import { extractTimestamp } from './timestamps.js';
import type { ProcessorContext, ProcessorStore, RefusedOutputs, SourceNode, StreamRecord } from './topology.js';
import { TaskSchedules, type ProcessorRecordMetadata, type ProcessorRuntime, type Schedule } from './processor-api.js';

function nextOf(offset: string): string {
  return (BigInt(offset) + 1n).toString();
}

/**
 * A task: partition p of the source topics of one task group (co-partitioned), with the group's stores and
 * (exactly_once) its own transactional producer. Between two commits it holds what its records did: store writes, output records and the input
 * offset. A commit writes the outputs and the stores' changelog records, and commits the offset, in one Kafka
 * transaction (exactly_once) or in that order (at_least_once); only then are the store writes applied to the
 * local storage that queries read.
 */

/** A store as one task's records see it: their own writes first, then what is committed. */
class TaskStore implements ProcessorStore {
  /** Writes of the record being processed: kept only if the record succeeds. */
  readonly recordWrites = new Map<string, PendingValue>();
  /** Writes of the records processed since the last commit. */
  readonly pending = new Map<string, PendingValue>();
  /** The keys of `pending`, sorted (see range). */
  private readonly pendingKeys = new SortedKeyIndex();

  constructor(
    readonly name: string,
    private readonly storage: TaskStorage,
  ) {}

  get(key: unknown): unknown {
    const id = storeKeyOf(key);
    const value = this.recordWrites.has(id) ? this.recordWrites.get(id) : this.pending.has(id) ? this.pending.get(id) : this.storage.get(this.name, id);
    return value === DELETED ? undefined : value;
  }

  put(key: unknown, value: unknown): void {
    // A key the store cannot hold fails the record that wrote it (dead-lettered, ERR12015), not the task's commit.
    this.recordWrites.set(assertStorableKey(this.name, key), value === undefined || value === null ? DELETED : value);
  }

  delete(key: unknown): void {
    this.recordWrites.set(storeKeyOf(key), DELETED);
  }

  /** Every entry as this task's records see them: committed, overlaid with the writes not committed yet. */
  entries(): { key: string; value: unknown }[] {
    return this.range();
  }

  /** The entries from `start` (inclusive) to `end` (exclusive) as this task's records see them, in key order. */
  range(start?: string, end?: string): { key: string; value: unknown }[] {
    const merged = new Map<string, unknown>();
    for (const { key, value } of this.storage.range(this.name, { ...(start !== undefined ? { start } : {}), ...(end !== undefined ? { end } : {}) })) merged.set(key, value);
    for (const key of this.pendingKeys.between(start, end)) merged.set(key, this.pending.get(key));
    for (const [key, value] of this.recordWrites) if ((start === undefined || key >= start) && (end === undefined || key < end)) merged.set(key, value);
    return [...merged].filter(([, value]) => value !== DELETED).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => ({ key, value }));
  }

  keepRecord(): void {
    for (const [key, value] of this.recordWrites) {
      if (!this.pending.has(key)) this.pendingKeys.add(key);
      this.pending.set(key, value);
    }
    this.recordWrites.clear();
  }

  /** Forgets the pending writes (committed, or dropped). */
  clearPending(): void {
    this.pending.clear();
    this.pendingKeys.clear();
  }
}

/** A record's output as the topology sent it, before it went through its topic's produce chain. */
export interface TopologyOutput {
  topic: string;
  record: StreamRecord<unknown, unknown>;
  onRefused?: RefusedOutputs;
}

export class StreamTask implements ProcessorContext {
  private readonly stores = new Map<string, TaskStore>();
  /** Outputs of the record being processed, in the order the topology sent them. */
  private recordOutputs: TopologyOutput[] = [];
  /** Output records of the record being processed, after their produce chains. */
  private recordMessages: { topic: string; message: TransportMessage }[] = [];
  private pendingMessages: { topic: string; message: TransportMessage }[] = [];
  /** Per input topic: the offset of the next record to read, once a record was processed since the last commit. */
  private readonly nextOffsets = new Map<string, string>();
  /** Per input topic: the first record processed since the last commit (where it is read again if the commit fails). */
  readonly uncommittedFrom = new Map<string, string>();
  /**
   * Per input topic: the offset of the next record this task has not processed yet, committed or not. A record
   * below it is done already (its effects committed, or in this task's uncommitted work): when the consumer hands
   * it over again — it resumes from the group's committed offset after every rebalance, also for a partition that
   * stayed here — it is skipped, never processed twice.
   */
  private readonly positions = new Map<string, string>();
  /** Per input topic: the group's committed offset as this task last knew it (read at open, then its own commits). */
  private readonly knownCommitted = new Map<string, string | undefined>();
  private lastCommit = Date.now();
  /** Stream time: the newest record timestamp this task processed (see ProcessorContext.streamTime). */
  private observedTime = -1;
  /** The Processor API's punctuation schedules and close hooks of this task's processors. */
  readonly schedules = new TaskSchedules({ streamTime: () => this.observedTime, wallClockTime: () => Date.now() });
  private currentInput: (() => ProcessorRecordMetadata) | undefined;
  /** The record being processed, until it is settled: what its attempt changed of stream time and schedules. */
  private attempt: { observedTime: number; schedules: Map<Schedule, number> } | undefined;
  private runtime: ProcessorRuntime | undefined;
  /** True when a punctuation left work (store writes, outputs) for the next commit. */
  private punctuated = false;
  private queue: Promise<unknown> = Promise.resolve();
  closed = false;

  constructor(
    readonly id: string,
    readonly partition: number,
    storeNames: readonly string[],
    readonly storage: TaskStorage,
    private readonly committer: TaskCommitter,
    private readonly changelogTopicOf: (store: string) => string,
    private readonly exactlyOnce: boolean,
    private readonly logger: Logger,
    /** Counts a record the topology dropped on purpose (light_kafka_streams_dropped_records_total). */
    private readonly onDropped: (reason: DropReason, store: string | undefined) => void = () => undefined,
  ) {
    for (const name of storeNames) this.stores.set(name, new TaskStore(name, storage));
  }

  /** Where the task starts: the group's committed offsets, read once the task's producer fenced any previous owner. */
  startAt(committed: Map<string, string | undefined>): void {
    for (const [topic, offset] of committed) {
      this.knownCommitted.set(topic, offset);
      if (offset !== undefined) this.positions.set(topic, offset);
    }
  }

  /** True when the record at `offset` of `topic` was processed by this task already (see `positions`). */
  hasDone(topic: string, offset: string): boolean {
    const position = this.positions.get(topic);
    return position !== undefined && BigInt(offset) < BigInt(position);
  }

  /**
   * True when the group's committed offsets are what this task last knew: nobody else committed for its partition
   * meanwhile. Otherwise another instance owned the task for a while (this one was out of the group, a zombie) and
   * its state is stale.
   */
  isCurrentWith(committed: Map<string, string | undefined>): boolean {
    return [...committed].every(([topic, offset]) => (this.knownCommitted.get(topic) ?? undefined) === offset);
  }

  get storeNames(): string[] {
    return [...this.stores.keys()];
  }

  /** The global tables' stores (read-only), which every task reads: set by the runtime that has them. */
  globalStore: ((name: string) => ProcessorStore | undefined) | undefined;

  store(name: string): ProcessorStore {
    const store = this.stores.get(name) ?? this.globalStore?.(name);
    // The topology gives each store to the tasks of its source only; anything else is a bug in the topology code.
    if (!store) throw new Error(`store ${name} does not belong to task ${this.id}`);
    return store;
  }

  send(topic: string, record: StreamRecord<unknown, unknown>, onRefused?: RefusedOutputs): void {
    this.recordOutputs.push({ topic, record, ...(onRefused ? { onRefused } : {}) });
  }

  /** Every entry of a store of this task (see TaskStore.entries). */
  entries(name: string): { key: string; value: unknown }[] {
    return (this.store(name) as TaskStore).entries();
  }

  /** Runs one unit of a punctuation; returns its outputs (to run through their produce chains). */
  runPunctuation(unit: () => void): TopologyOutput[] {
    return this.outputsOf(unit);
  }

  /** The punctuation unit succeeded (keep) or failed: its writes and outputs are kept for the next commit or dropped. */
  punctuationDone(keep: boolean): void {
    this.settleRecord(keep);
    if (keep) this.punctuated = true;
  }

  /**
   * Runs one input record through the topology, then the stream-time punctuations it made due; returns their
   * outputs (to run through their produce chains). The record's timestamp is its source's (see TimestampExtractor);
   * a record without a valid one is skipped, counted. `metadata`: where the record came from (read only by the
   * Processor API, hence lazy).
   */
  runTopology(source: SourceNode, record: StreamRecord<unknown, unknown>, metadata?: () => ProcessorRecordMetadata): TopologyOutput[] {
    const time = extractTimestamp(source, record, this.observedTime);
    if (time === undefined) {
      this.discardRecord();
      this.recordDropped('invalid-timestamp');
      return [];
    }
    // A record run again after a failure starts from where the failed attempt did (its time effects undone).
    if (this.attempt) this.undoAttempt();
    this.attempt = { observedTime: this.observedTime, schedules: this.schedules.snapshot() };
    this.observedTime = Math.max(this.observedTime, time);
    const stamped = { ...record, timestamp: String(time) };
    this.currentInput = metadata;
    try {
      return this.outputsOf(() => {
        source.process(stamped, this);
        this.currentInput = undefined;
        this.schedules.runStreamTime();
      });
    } finally {
      this.currentInput = undefined;
    }
  }

  streamTime(): number {
    return this.observedTime;
  }

  /** The Processor API's hooks of this task (KStream.process). */
  processorRuntime(): ProcessorRuntime {
    return (this.runtime ??= { taskId: this.id, schedules: this.schedules, recordMetadata: () => this.currentInput?.() });
  }

  recordDropped(reason: DropReason, store?: string): void {
    this.onDropped(reason, store);
    // Late records can come by the thousand: a line each only at debug. An invalid timestamp is a producer's bug.
    this.logger[reason === 'invalid-timestamp' ? 'warn' : 'debug']('a record was dropped', { task: this.id, reason, ...(store !== undefined ? { store } : {}) });
  }

  /** What `work` (one record's or one punctuation unit's) sends, its earlier leftovers discarded first. */
  private outputsOf(work: () => void): TopologyOutput[] {
    this.discardRecord();
    work();
    const outputs = this.recordOutputs;
    this.recordOutputs = [];
    return outputs;
  }

  /** Keeps (for the next commit) or drops what the record or unit being processed wrote and sent. */
  private settleRecord(keep: boolean): void {
    if (keep) {
      for (const store of this.stores.values()) store.keepRecord();
      for (const output of this.recordMessages) this.pendingMessages.push(output);
      this.attempt = undefined;
    } else if (this.attempt) {
      this.undoAttempt();
    }
    this.discardRecord();
  }

  /**
   * Puts stream time and the punctuation schedules back where they were before the record being settled ran: a
   * failed record's stream-time punctuations are dropped with its writes, so its retry (or the next record) runs
   * them again.
   */
  private undoAttempt(): void {
    const attempt = this.attempt!;
    this.attempt = undefined;
    this.observedTime = attempt.observedTime;
    this.schedules.restore(attempt.schedules);
  }

  /** The writer the produce chains of this record's outputs end in: it holds the records until the commit. */
  readonly deferredWriter: BatchWriter = async (batches) => {
    for (const { topic, messages } of batches) for (const message of messages) this.recordMessages.push({ topic, message });
    return batches.map(({ topic }) => ({ topic, partition: -1, baseOffset: undefined }));
  };

  /** The record succeeded (or was dead-lettered: `keep` false): its writes and outputs are kept or dropped; its offset is done. */
  recordDone(topic: string, message: DriverMessage, keep: boolean): void {
    this.settleRecord(keep);
    if (!this.uncommittedFrom.has(topic)) this.uncommittedFrom.set(topic, message.offset);
    const next = nextOf(message.offset);
    this.nextOffsets.set(topic, next);
    this.positions.set(topic, next);
  }

  /** The input offsets (records, and transaction markers between them) processed since the last commit. */
  get uncommittedOffsets(): number {
    let count = 0n;
    for (const [topic, from] of this.uncommittedFrom) count += BigInt(this.nextOffsets.get(topic) ?? from) - BigInt(from);
    return Number(count);
  }

  /** Drops what the record being processed wrote and sent so far (its outputs are replaced, see RefusedOutputs). */
  discardRecord(): void {
    for (const store of this.stores.values()) store.recordWrites.clear();
    this.recordOutputs = [];
    this.recordMessages = [];
  }

  get hasUncommitted(): boolean {
    return this.nextOffsets.size > 0 || this.punctuated;
  }

  isCommitDue(intervalMs: number): boolean {
    return this.hasUncommitted && Date.now() - this.lastCommit >= intervalMs;
  }

  /** Runs `work` after the task's earlier work: processing and commits of one task never interleave. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Commits what the records since the last commit did. On failure nothing of it is applied locally and the
   * error is thrown: the caller drops the task's uncommitted work and the records are read again.
   */
  async commit(): Promise<void> {
    if (!this.hasUncommitted) return;
    const batches = new Map<string, TransportMessage[]>();
    const add = (topic: string, message: TransportMessage): void => {
      let list = batches.get(topic);
      if (!list) batches.set(topic, (list = []));
      list.push(message);
    };
    for (const { topic, message } of this.pendingMessages) add(topic, message);
    const changelogCounts = new Map<string, number>();
    for (const store of this.stores.values()) {
      if (store.pending.size === 0) continue;
      const topic = this.changelogTopicOf(store.name);
      changelogCounts.set(store.name, store.pending.size);
      for (const [key, value] of store.pending) {
        add(topic, { key: Buffer.from(key), value: value === DELETED ? null : Buffer.from(JSON.stringify(value)), headers: new RecordHeaders(), partition: this.partition });
      }
    }
    const offsets: TopicOffsets[] = [...this.nextOffsets].map(([topic, offset]) => ({ topic, partitions: [{ partition: this.partition, offset }] }));
    const acks = await this.committer.commit([...batches].map(([topic, messages]) => ({ topic, messages })), offsets);
    // Committed: the local stores follow. The checkpoint is the changelog offset after these records (and, in a
    // transaction, after its commit marker, which comes right after them: only this task writes the partition).
    for (const store of this.stores.values()) {
      if (store.pending.size === 0) continue;
      const topic = this.changelogTopicOf(store.name);
      const ack = acks.find((candidate) => candidate.topic === topic && candidate.partition === this.partition);
      const checkpoint = ack?.baseOffset !== undefined ? (BigInt(ack.baseOffset) + BigInt(changelogCounts.get(store.name)!) + (this.exactlyOnce ? 1n : 0n)).toString() : undefined;
      this.storage.apply(store.name, store.pending, checkpoint);
      store.clearPending();
    }
    this.pendingMessages = [];
    for (const [topic, offset] of this.nextOffsets) this.knownCommitted.set(topic, offset);
    this.nextOffsets.clear();
    this.uncommittedFrom.clear();
    this.punctuated = false;
    this.lastCommit = Date.now();
  }

  /** Drops everything not committed (after a failed commit, or when the task is closed). */
  dropUncommitted(): void {
    this.discardRecord();
    for (const store of this.stores.values()) store.clearPending();
    this.pendingMessages = [];
    this.nextOffsets.clear();
    this.uncommittedFrom.clear();
    this.punctuated = false;
  }

  async close(): Promise<void> {
    this.closed = true;
    try {
      this.schedules.close();
    } catch (error) {
      this.logger.warn('a processor failed to close', { task: this.id, error: (error as Error).message });
    }
    this.dropUncommitted();
    await this.committer.close().catch((error) => this.logger.warn('closing a task producer failed', { task: this.id, error: (error as Error).message }));
    this.storage.close();
  }
}
