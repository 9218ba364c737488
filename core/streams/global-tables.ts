import { LightError, reasonOf } from '../errors/light-error.js';
import type { DriverMessage } from '../kafka/driver.js';
import type { Logger } from '../logger.js';
import { assertStorableKey, DELETED, storeKeyOf, type KeyRange, type PendingValue, type StoreEntry, type TaskStorage } from './stores.js';
import type { StreamsClients, TopicReader } from '../kafka/streams-clients.js';
import type { ProcessorStore } from './topology.js';

/**
 * Global tables (Kafka Streams' GlobalKTable): a table every instance holds whole. Each instance reads all partitions
 * of the table's topic — outside the streams' consumer group, committing nothing — into a store of its own under
 * `<state.dir>/<application.id>/global` (or in memory), restores it to the topic's end before the streams process
 * anything, and keeps applying the topic's records while they run. The topic is the store's changelog: the store
 * remembers, per partition, the offset it has applied up to (its checkpoint), so a restart reads only what is new.
 * Tasks read the store (joins with a key selector), never write it; queries read it on any instance.
 */

/** A global table as the topology declares it. */
export interface GlobalTableDefinition {
  topic: string;
  store: string;
}

/** The handle `StreamsBuilder.globalTable()` returns, to join streams with. */
export class GlobalKTable<K, V> {
  /** Phantom members, so a GlobalKTable<K, V> is not assignable to another K or V. */
  declare readonly keyType?: K;
  declare readonly valueType?: V;

  constructor(
    readonly topic: string,
    readonly storeName: string,
  ) {}
}

/** A record of a global table's topic, decoded as the topic's consumers decode it (kafka-consumer.yml formats). */
export type GlobalRecordDecoder = (topic: string, message: DriverMessage) => { key: unknown; value: unknown };

/** Keys as UTF-8 text, values as JSON (as text when they are not JSON): kafka-consumer.yml's defaults. */
export const defaultGlobalDecoder: GlobalRecordDecoder = (_topic, message) => {
  const key = message.key === null ? null : message.key.toString('utf8');
  if (message.value === null) return { key, value: null };
  const text = message.value.toString('utf8');
  try {
    return { key, value: JSON.parse(text) as unknown };
  } catch {
    return { key, value: text };
  }
};

export interface GlobalTablesOptions {
  storage: TaskStorage;
  decode: GlobalRecordDecoder;
  logger: Logger;
  /** A restore fails when no record (or marker) comes for this long. */
  restoreTimeoutMs: number;
  /** Restore progress, as the task stores report theirs. */
  onRestored?(store: string, records: number): void;
  onRemaining?(store: string, partition: number, remaining: number): void;
  /** A restore stopped unfinished: its remaining records are no one's to report any more. */
  onForget?(store: string, partition: number): void;
}

/** One global table at run time: where its reader is, per partition. */
interface Running {
  definition: GlobalTableDefinition;
  positions: Map<number, bigint>;
  reader: TopicReader | undefined;
  lastProgress: number;
  failure: unknown;
  restored: boolean;
}

/** After a reader failed while the streams run: how long before it reads again (from where it was). */
const RESTART_AFTER_MS = 1000;

export class GlobalTables {
  private readonly running = new Map<string, Running>();
  private clients: StreamsClients | undefined;
  private stopped = false;
  private readonly restarts = new Set<NodeJS.Timeout>();

  constructor(
    readonly definitions: readonly GlobalTableDefinition[],
    private readonly options: GlobalTablesOptions,
  ) {}

  has(store: string): boolean {
    return this.definitions.some((definition) => definition.store === store);
  }

  /**
   * Restores every global table up to its topic's end (as of now) and keeps reading: resolves once all are restored.
   * Fails (ERR12012) when a topic does not exist or a restore makes no progress for restoreTimeoutMs; the readers
   * started are stopped then.
   */
  async start(clients: StreamsClients): Promise<void> {
    this.clients = clients;
    try {
      await Promise.all(this.definitions.map((definition) => this.restore(definition, clients)));
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  private async restore(definition: GlobalTableDefinition, clients: StreamsClients): Promise<void> {
    const { topic, store } = definition;
    const { storage, logger, restoreTimeoutMs } = this.options;
    let partitions: number;
    try {
      partitions = await clients.partitionCount(topic);
    } catch (error) {
      // Still retried while the cause is transient (a topic the brokers' metadata does not show yet); what remains
      // after the start's retries says which table and topic.
      throw new LightError('ERR12012', { reason: `global table ${store}: the partitions of its topic ${topic} cannot be read (does the topic exist?): ${reasonOf(error)}` }, { cause: error });
    }
    if (partitions === 0) throw new LightError('ERR12012', { reason: `global table ${store}: its topic ${topic} does not exist; create it before the streams start` });
    const ends = await clients.endOffsets(topic);
    let saved = parseCheckpoint(storage.checkpoint(store));
    if ([...saved].some(([partition, offset]) => offset > BigInt(ends.get(partition) ?? '0'))) {
      // Past the topic's end: the topic was recreated. What the store holds is of another topic's life.
      logger.warn('global table checkpoint is past its topic end (the topic was recreated?): restoring it from the start', { store, topic });
      storage.clear(store);
      saved = new Map();
    }
    const positions = new Map<number, bigint>(Array.from({ length: partitions }, (_, partition) => [partition, saved.get(partition) ?? 0n]));
    const run: Running = { definition, positions, reader: undefined, lastProgress: Date.now(), failure: undefined, restored: false };
    this.running.set(store, run);
    const remaining = (): bigint => [...positions].reduce((sum, [partition, position]) => {
      const end = BigInt(ends.get(partition) ?? '0');
      return sum + (end > position ? end - position : 0n);
    }, 0n);
    const total = remaining();
    if (total > 0n) logger.info('restoring global table', { store, topic, records: total.toString() });
    for (const [partition, position] of positions) this.options.onRemaining?.(store, partition, Math.max(0, Number(BigInt(ends.get(partition) ?? '0') - position)));
    await this.read(run, clients);
    while (remaining() > 0n) {
      if (this.stopped) throw new LightError('ERR12012', { reason: `global table ${store}: the streams stopped during its restore` });
      if (run.failure) throw new LightError('ERR12012', { reason: `global table ${store} cannot be restored from ${topic}: ${reasonOf(run.failure)}` }, { cause: run.failure });
      if (Date.now() - run.lastProgress > restoreTimeoutMs) {
        const behind = [...positions].filter(([partition, position]) => position < BigInt(ends.get(partition) ?? '0')).map(([partition, position]) => `partition ${partition} at ${position} of ${ends.get(partition)}`);
        throw new LightError('ERR12012', { reason: `global table ${store} cannot be restored from ${topic}: no record for ${restoreTimeoutMs} ms (${behind.join(', ')})` });
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    run.restored = true;
    for (const [partition] of positions) this.options.onRemaining?.(store, partition, 0);
    logger.info('global table restored', { store, topic, records: total.toString() });
  }

  /** Starts (or starts again) the reader of a table from where it is. */
  private async read(run: Running, clients: StreamsClients): Promise<void> {
    const { topic, store } = run.definition;
    const from = new Map([...run.positions].map(([partition, position]) => [partition, String(position)]));
    run.failure = undefined;
    const reader = await clients.readTopic(
      topic,
      from,
      (partition, messages, next) => this.apply(run, partition, messages, BigInt(next)),
      (error) => {
        run.failure = error;
        run.reader = undefined;
        if (this.stopped) return;
        this.options.logger.error('global table reader failed; it reads again from where it was', { store, topic, inMs: RESTART_AFTER_MS, error: reasonOf(error) });
        const timer = setTimeout(() => {
          this.restarts.delete(timer);
          if (this.stopped || this.clients !== clients) return;
          this.read(run, clients).catch((failure) => {
            run.failure = failure;
            this.options.logger.error('global table reader cannot start again', { store, topic, error: reasonOf(failure) });
          });
        }, RESTART_AFTER_MS);
        this.restarts.add(timer);
      },
    );
    // A stop (a failed start of another table) that came while this reader connected: it stops at once, not later.
    if (this.stopped) {
      await reader.stop().catch(() => undefined);
      throw new LightError('ERR12012', { reason: `global table ${store}: the streams stopped while its reader started` });
    }
    run.reader = reader;
  }

  /** Applies one fetched batch of a table's topic and moves its checkpoint, in one write of the store. */
  private apply(run: Running, partition: number, messages: DriverMessage[], next: bigint): void {
    if (this.stopped) return;
    const { topic, store } = run.definition;
    const writes = new Map<string, PendingValue>();
    for (const message of messages) {
      let key: unknown;
      let value: unknown;
      try {
        ({ key, value } = this.options.decode(topic, message));
        if (key === null || key === undefined) continue;
        writes.set(assertStorableKey(store, key), value === null || value === undefined ? DELETED : value);
      } catch (error) {
        // Kafka Streams' default stops on a record it cannot deserialize; a global table skips it (and says so).
        this.options.logger.error('global table record skipped: it cannot be decoded or stored', { store, topic, partition, offset: message.offset, error: reasonOf(error) });
      }
    }
    run.positions.set(partition, next);
    run.lastProgress = Date.now();
    this.options.storage.apply(store, writes, checkpointOf(run.positions));
    if (messages.length > 0) this.options.onRestored?.(store, messages.length);
  }

  /** The partition count of a table's topic (0 before it started). */
  partitionCount(store: string): number {
    return this.running.get(store)?.positions.size ?? 0;
  }

  /** A global table's store as a task reads it: read-only. */
  store(name: string): ProcessorStore | undefined {
    if (!this.has(name)) return undefined;
    const refuse = (): never => {
      throw new Error(`global table ${name} is read-only: tasks read it, its topic writes it`);
    };
    return {
      get: (key) => this.get(name, key),
      put: refuse,
      delete: refuse,
      range: (start, end) => this.range(name, { ...(start !== undefined ? { start } : {}), ...(end !== undefined ? { end } : {}) }),
    };
  }

  get(name: string, key: unknown): unknown {
    return this.stopped ? undefined : this.options.storage.get(name, storeKeyOf(key));
  }

  range(name: string, range: KeyRange): StoreEntry[] {
    return this.stopped ? [] : this.options.storage.range(name, range);
  }

  /** Stops reading; the store is closed (its checkpoint says where a next start goes on from). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.restarts) clearTimeout(timer);
    this.restarts.clear();
    await Promise.allSettled([...this.running.values()].map((run) => run.reader?.stop()));
    for (const run of this.running.values()) if (!run.restored) for (const [partition] of run.positions) this.options.onForget?.(run.definition.store, partition);
    this.options.storage.close();
  }
}

/** A checkpoint: the next offset to read per partition, as JSON (a TaskStorage keeps one string per store). */
function checkpointOf(positions: ReadonlyMap<number, bigint>): string {
  return JSON.stringify(Object.fromEntries([...positions].map(([partition, position]) => [partition, String(position)])));
}

function parseCheckpoint(text: string | undefined): Map<number, bigint> {
  if (text === undefined) return new Map();
  try {
    return new Map(Object.entries(JSON.parse(text) as Record<string, string>).map(([partition, offset]) => [Number(partition), BigInt(offset)]));
  } catch {
    return new Map();
  }
}
