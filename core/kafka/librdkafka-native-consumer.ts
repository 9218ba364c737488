import { setTimeout as sleep } from 'node:timers/promises';
import { reasonOf } from '../errors/light-error.js';
import type { Logger } from '../logger.js';
import type { DriverBatch, DriverConsumer, DriverConsumerEvents, DriverMessage } from './driver.js';
import { batchSlice } from './batch-slice.js';
import type { LibrdkafkaModule, NativeConsumer, NativeError, NativeMessage, NativeMetadata, NativePartition, OffsetsConsumer } from './librdkafka-api.js';
import type { ConsumerSettings, NativeConfig } from './properties.js';

/** Records asked for per consume call unless kafka-consumer.yml max.poll.records says otherwise. */
const DEFAULT_BATCH_RECORDS = 2000;
/** How long an empty consume call waits: the loop notices a stop at least this often. */
const CONSUME_WAIT_MS = 200;
const SEEK_TIMEOUT_MS = 5000;
const DONE = Promise.resolve();

/** What the consumer knows of one assigned partition. */
interface OwnedPartition {
  topic: string;
  partition: number;
  /** Raised on every assign and revoke: a batch read under another epoch is stale. */
  epoch: number;
  owned: boolean;
  /** A revoke waits for the batch in hand; it starts no further record meanwhile. */
  revoking: boolean;
  paused: boolean;
  /** The offset to commit (the next record to read) once processed, and the one last stored in librdkafka. */
  resolved: number | undefined;
  stored: number | undefined;
  inHand: Promise<void> | undefined;
  /** The first consume call whose records of the partition count: one issued after its last seek. */
  readFrom: number;
}

const keyOf = (topic: string, partition: number): string => `${topic}:${partition}`;

/**
 * LightConsumer's consumer on the native (node-rdkafka) API of @confluentinc/kafka-javascript: one consume call
 * hands over up to max.poll.records records, grouped per partition into batches. Offsets LightConsumer resolves are
 * stored (enable.auto.offset.store false) and librdkafka commits them on auto.commit.interval.ms; a revoke commits
 * the revoked partitions' processed offsets before they are unassigned, and disconnect commits before leaving, so
 * a rebalance re-delivers only records fetched but not processed. A batch cut short (handed back, paused) seeks its
 * partition back to the first record not processed. The rebalance protocol is cooperative-sticky unless
 * kafka-consumer.yml names another assignor or group.protocol consumer (KIP-848) leaves assignment to the broker.
 */
export class LibrdkafkaNativeConsumer implements DriverConsumer {
  readonly groupId: string;
  /** For a transactional producer's sendOffsets (KIP-447): the native client carries the group metadata. */
  readonly client: OffsetsConsumer;
  private readonly native: NativeConsumer;
  private readonly batchRecords: number;
  private readonly partitions = new Map<string, OwnedPartition>();
  private readonly listeners: { [E in keyof DriverConsumerEvents]: DriverConsumerEvents[E][] } = { groupJoin: [], groupLeave: [], crash: [] };
  private stopping = false;
  /** Set once disconnect committed: the revoke that closing brings commits nothing more. */
  private committedForLeave = false;
  private loop: Promise<void> = DONE;
  /** Consume calls issued so far; the one in flight is number `calls`. */
  private calls = 0;
  /** Rebalance callbacks run one after another, each possibly waiting for a batch in hand. */
  private rebalances: Promise<void> = DONE;

  constructor(module: LibrdkafkaModule, settings: ConsumerSettings, private readonly logger: Logger) {
    this.groupId = settings.consumer.groupId;
    const { 'js.consumer.max.batch.size': maxPollRecords, ...librdkafka } = settings.librdkafka;
    this.batchRecords = Number(maxPollRecords) > 0 ? Number(maxPollRecords) : DEFAULT_BATCH_RECORDS;
    const { ERR__ASSIGN_PARTITIONS, ERR__REVOKE_PARTITIONS } = module.CODES.ERRORS;
    this.native = new module.KafkaConsumer({
      ...nativeConsumerConfig(librdkafka),
      rebalance_cb: (error: NativeError | undefined, assignment: NativePartition[]) => {
        const code = error?.code;
        const lost = code !== ERR__ASSIGN_PARTITIONS && this.native.assignmentLost();
        this.rebalances = this.rebalances.then(() =>
          code === ERR__ASSIGN_PARTITIONS ? this.assigned(assignment) : this.revoked(assignment, lost || code !== ERR__REVOKE_PARTITIONS),
        ).catch((cause: unknown) => this.logger.warn('rebalance failed', { error: reasonOf(cause) }));
      },
    });
    this.native.on('event.error', (error) => this.logger.warn('librdkafka consumer error', { error: reasonOf(error), code: error.code }));
    this.client = { _getInternalClient: () => this.native };
  }

  connect(): Promise<void> {
    this.stopping = false;
    this.committedForLeave = false;
    return new Promise((resolve, reject) => this.native.connect({ timeout: 30_000 }, (error) => (error ? reject(error) : resolve())));
  }

  /**
   * librdkafka joins the group only once a subscribed topic is in its metadata, and its consumer does not ask the
   * broker to create one: each named topic is first asked for by name (a broker that creates topics on first use
   * creates it), and one with no partitions yet is reported missing, for LightConsumer to ask again.
   */
  async subscribe(topics: (string | RegExp)[]): Promise<void> {
    for (const topic of topics) {
      if (typeof topic !== 'string') continue;
      const metadata = await new Promise<NativeMetadata>((resolve, reject) =>
        this.native.getMetadata({ topic, allTopics: false, timeout: 5000 }, (error, result) => (error || !result ? reject(error) : resolve(result))),
      );
      const partitions = metadata.topics.find((entry) => entry.name === topic)?.partitions.length ?? 0;
      if (partitions === 0) throw Object.assign(new Error(`topic ${topic} has no partitions (yet)`), { missingTopic: true });
    }
    this.native.subscribe(topics);
  }

  isMissingTopic(error: unknown): boolean {
    return (error as { missingTopic?: boolean }).missingTopic === true;
  }

  run(options: { partitionsConsumedConcurrently: number; eachBatch: (batch: DriverBatch) => Promise<void> }): Promise<void> {
    // Only the records already fetched once the first one is there: a consume call never waits to fill up.
    this.native.setDefaultIsTimeoutOnlyForFirstMessage(true);
    this.native.setDefaultConsumeTimeout(CONSUME_WAIT_MS);
    this.loop = this.consumeLoop(Math.max(1, options.partitionsConsumedConcurrently), options.eachBatch);
    return DONE;
  }

  /**
   * The next consume call is in flight while the records of the last one are processed, so librdkafka's worker
   * thread and the chain overlap. A partition sought back under a batch drops what the call in flight read of it.
   */
  private async consumeLoop(concurrency: number, eachBatch: (batch: DriverBatch) => Promise<void>): Promise<void> {
    let next = this.consume();
    while (!this.stopping) {
      const call = this.calls;
      let messages: NativeMessage[];
      try {
        messages = await next;
      } catch (error) {
        if ((error as NativeError).isFatal) {
          this.logger.error('librdkafka consumer failed for good', { error: reasonOf(error) });
          for (const listener of this.listeners.crash) listener({ error, restart: false });
          return;
        }
        this.logger.warn('consume failed; trying again', { error: reasonOf(error) });
        // An error that repeats (a topic deleted under the subscription) must not spin the loop.
        await sleep(CONSUME_WAIT_MS);
        next = this.consume();
        continue;
      }
      next = this.consume();
      await runPooled(this.toBatches(messages, call), concurrency, (batch) => this.process(batch, eachBatch));
    }
    // Read but not processed: the offsets committed on leaving are the processed ones.
    await next.catch(() => undefined);
  }

  private consume(): Promise<NativeMessage[]> {
    this.calls += 1;
    return new Promise((resolve, reject) => this.native.consume(this.batchRecords, (error, messages) => (error ? reject(error) : resolve(messages))));
  }

  /**
   * The records per partition, in offset order. Dropped: those of a partition paused or no longer owned, and those
   * a consume call read before the partition was sought back (they come again from where it was sought).
   */
  private toBatches(messages: NativeMessage[], call: number): { owner: OwnedPartition; epoch: number; messages: NativeMessage[] }[] {
    const byPartition = new Map<OwnedPartition, NativeMessage[]>();
    for (const message of messages) {
      const owner = this.partitions.get(keyOf(message.topic, message.partition));
      if (!owner?.owned || owner.paused || owner.revoking || call < owner.readFrom) continue;
      const list = byPartition.get(owner);
      if (list) list.push(message);
      else byPartition.set(owner, [message]);
    }
    return [...byPartition].map(([owner, list]) => ({ owner, epoch: owner.epoch, messages: list }));
  }

  /** Hands one partition's records to LightConsumer, then stores what it processed and seeks back to the rest. */
  private async process(read: { owner: OwnedPartition; epoch: number; messages: NativeMessage[] }, eachBatch: (batch: DriverBatch) => Promise<void>): Promise<void> {
    const { owner, epoch } = read;
    const { topic, partition } = owner;
    const stale = (): boolean => owner.epoch !== epoch || !owner.owned;
    let lastResolved = -1;
    const slice = batchSlice((offset) => {
      const next = Number(offset) + 1;
      if (next <= lastResolved + 1 || stale()) return;
      lastResolved = next - 1;
      owner.resolved = next;
    });
    const running = eachBatch({
      topic,
      partition,
      highWatermark: this.highWatermark(topic, partition),
      messages: read.messages.map(toDriverMessage),
      resolveOffset: slice.resolveOffset,
      // librdkafka heartbeats on its own thread and commits stored offsets on its interval.
      heartbeat: () => DONE,
      commitOffsetsIfNecessary: () => {
        this.store(owner);
        return DONE;
      },
      isRunning: () => !this.stopping,
      isStale: stale,
      handBack: () => this.stopping || owner.revoking || slice.over(),
      pause: () => this.pause(owner),
    });
    owner.inHand = running;
    try {
      await running;
    } catch (error) {
      this.logger.error('a batch failed; its unprocessed records are read again', { topic, partition, error: reasonOf(error) });
    } finally {
      owner.inHand = undefined;
      this.store(owner);
    }
    const last = read.messages[read.messages.length - 1]!.offset;
    // A partition being revoked is not sought: its next owner starts at the offset committed on the revoke.
    if (lastResolved < last && !stale() && !owner.revoking) await this.seekBack(owner, lastResolved >= 0 ? lastResolved + 1 : read.messages[0]!.offset);
  }

  private highWatermark(topic: string, partition: number): string {
    try {
      return String(this.native.getWatermarkOffsets(topic, partition).highOffset);
    } catch {
      return '-1001';
    }
  }

  /** Stores the partition's processed offset for librdkafka's next commit (an unassigned partition refuses it). */
  private store(owner: OwnedPartition): void {
    const { resolved } = owner;
    if (resolved === undefined || resolved === owner.stored || !owner.owned) return;
    try {
      this.native.offsetsStore([{ topic: owner.topic, partition: owner.partition, offset: resolved }]);
      owner.stored = resolved;
    } catch (error) {
      this.logger.warn('storing a processed offset failed; it is committed with the next one', { topic: owner.topic, partition: owner.partition, error: reasonOf(error) });
    }
  }

  /** Records fetched after the last processed one come again: from the next consume call, or once resumed. */
  private async seekBack(owner: OwnedPartition, offset: number): Promise<void> {
    const { topic, partition } = owner;
    owner.readFrom = this.calls + 1;
    await new Promise<void>((resolve) =>
      this.native.seek({ topic, partition, offset }, SEEK_TIMEOUT_MS, (error) => {
        if (error && owner.owned) this.logger.warn('seeking back to the first unprocessed record failed', { topic, partition, offset, error: reasonOf(error) });
        resolve();
      }),
    );
  }

  private pause(owner: OwnedPartition): void {
    owner.paused = true;
    try {
      this.native.pause([{ topic: owner.topic, partition: owner.partition }]);
    } catch (error) {
      this.logger.warn('pausing a partition failed', { topic: owner.topic, partition: owner.partition, error: reasonOf(error) });
    }
  }

  private assigned(assignment: NativePartition[]): void {
    if (this.native.rebalanceProtocol() === 'COOPERATIVE') this.native.incrementalAssign(assignment);
    else this.native.assign(assignment);
    for (const { topic, partition } of assignment) {
      const key = keyOf(topic, partition);
      const owner = this.partitions.get(key);
      if (owner) owner.owned = false;
      const epoch = (owner?.epoch ?? 0) + 1;
      this.partitions.set(key, { topic, partition, epoch, owned: true, revoking: false, paused: false, resolved: undefined, stored: undefined, inHand: undefined, readFrom: 0 });
    }
    for (const listener of this.listeners.groupJoin) listener({ assignment });
  }

  /**
   * Lets the revoked partitions' batches in hand end (they start no further record), commits what they processed
   * while this member still owns the partitions, then unassigns. A lost assignment (the member was dropped) is
   * not committed: another member may own the partitions already.
   */
  private async revoked(assignment: NativePartition[], lost: boolean): Promise<void> {
    const cooperative = this.native.rebalanceProtocol() === 'COOPERATIVE';
    const revoked = assignment.map(({ topic, partition }) => this.partitions.get(keyOf(topic, partition))).filter((owner): owner is OwnedPartition => owner?.owned === true);
    for (const owner of revoked) {
      if (lost) owner.epoch += 1;
      owner.revoking = true;
    }
    await Promise.allSettled(revoked.map((owner) => owner.inHand ?? DONE));
    if (!lost && !this.committedForLeave) await this.commit(revoked);
    for (const owner of revoked) {
      owner.owned = false;
      owner.revoking = false;
      owner.epoch += 1;
    }
    if (cooperative) this.native.incrementalUnassign(assignment);
    else this.native.unassign();
    if (![...this.partitions.values()].some((owner) => owner.owned)) for (const listener of this.listeners.groupLeave) listener();
  }

  /** Commits the partitions' processed offsets now, waiting for the coordinator's answer. */
  private async commit(owners: OwnedPartition[]): Promise<void> {
    const offsets = owners.filter((owner) => owner.resolved !== undefined).map(({ topic, partition, resolved }) => ({ topic, partition, offset: resolved! }));
    if (offsets.length === 0) return;
    for (const owner of owners) this.store(owner);
    await new Promise<void>((resolve) =>
      this.native.commitCb(offsets, (error) => {
        if (error) this.logger.warn('committing the processed offsets failed; the next owner of the partitions may process them again', { error: reasonOf(error) });
        resolve();
      }),
    );
  }

  /**
   * Lets the batches in hand end, commits what they processed while this member still owns its partitions, then
   * leaves: librdkafka's own commit on close can reach the coordinator after its LeaveGroup and be refused.
   */
  async disconnect(): Promise<void> {
    this.stopping = true;
    await this.loop;
    await this.rebalances;
    await this.commit([...this.partitions.values()].filter((owner) => owner.owned));
    this.committedForLeave = true;
    await new Promise<void>((resolve) => {
      if (!this.native.isConnected()) return resolve();
      this.native.disconnect((error) => {
        if (error) this.logger.warn('leaving the consumer group failed', { error: reasonOf(error) });
        resolve();
      });
    });
    this.partitions.clear();
    for (const listener of this.listeners.groupLeave) listener();
  }

  /** The native consumer is never restarted by the client: nothing to switch off. */
  stopRestarts(): void {}

  on<E extends keyof DriverConsumerEvents>(event: E, listener: DriverConsumerEvents[E]): void {
    this.listeners[event].push(listener);
  }
}

/**
 * librdkafka's configuration for the LightConsumer: offsets stored by the driver only, committed on the interval;
 * cooperative-sticky assignment unless one was named or the broker assigns (group.protocol consumer, KIP-848, where
 * librdkafka refuses partition.assignment.strategy).
 */
export function nativeConsumerConfig(librdkafka: NativeConfig): NativeConfig {
  const brokerAssigns = librdkafka['group.protocol'] === 'consumer';
  return {
    // As kafkajs (and the compatible API): subscribing asks a broker that creates topics on first use to create it.
    'allow.auto.create.topics': true,
    ...(brokerAssigns ? {} : { 'partition.assignment.strategy': 'cooperative-sticky' }),
    ...librdkafka,
    'enable.auto.commit': true,
    'enable.auto.offset.store': false,
  };
}

function toDriverMessage(message: NativeMessage): DriverMessage {
  const { key } = message;
  return {
    key: typeof key === 'string' ? Buffer.from(key) : (key ?? null),
    value: message.value,
    timestamp: message.timestamp !== undefined ? String(message.timestamp) : '',
    offset: String(message.offset),
    ...(message.headers ? { headers: toHeaders(message.headers) } : {}),
  };
}

/** The native API's header list as kafkajs's record: a name that repeats holds its values in order. */
function toHeaders(list: Record<string, Buffer | string>[]): NonNullable<DriverMessage['headers']> {
  const headers: Record<string, Buffer | string | (Buffer | string)[]> = {};
  for (const header of list) {
    for (const [name, value] of Object.entries(header)) {
      const present = headers[name];
      headers[name] = present === undefined ? value : Array.isArray(present) ? [...present, value] : [present, value];
    }
  }
  return headers;
}

/** Runs `work` over the items, at most `limit` at once. */
async function runPooled<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  if (items.length === 1) return work(items[0]!);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
