import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Counter, Gauge, Registry } from 'prom-client';
import { registeredCounter, registeredGauge } from '../registered-metric.js';
import { reasonOf } from '../errors/light-error.js';
import type { DriverMessage } from '../kafka/driver.js';
import type { MemberReport } from '../kafka/streams-assignment.js';
import type { FollowedPartition, PartitionFollower, StreamsClients } from '../kafka/streams-clients.js';
import type { Logger } from '../logger.js';
import { changelogWrites, LmdbTaskStorage, MemoryTaskStorage, type TaskStorage } from './stores.js';

/**
 * Standby replicas (Kafka Streams' num.standby.replicas): warm copies of a task's stores on instances that do not
 * process it, fed from the task's changelog partitions, so that when the task moves to such an instance it restores
 * only the tail the copy had not read yet.
 *
 * Where the standbys go is the transport's (groupMembers: each member's standbyTasks, and which member is this
 * instance): on kafkajs the LightStreams assignor places them and prefers them for a task whose owner left; on
 * librdkafka every instance predicts where librdkafka's `range` would move a task if its owner left and keeps the
 * standby there. After each rebalance this instance reads its own placement from the group description and opens,
 * keeps or closes its standbys to match.
 *
 * A standby's stores sit where the task's would (`<state.dir>/<application.id>/<task>/stores.mdb`, or in memory with
 * `storeType: memory`) with the same checkpoints: when the task becomes active here its storage is handed to it as it
 * is (take), and the task's ordinary open restores from the checkpoint to the changelog's end, the tail. A standby no
 * longer wanted here closes; its files stay, so a later open (standby or active) starts from their checkpoint.
 *
 * One reader follows every standby changelog partition of the instance (StreamsClients.followPartitions, committed
 * records only, outside the streams group); it is started again with the new set whenever the set changes (at
 * rebalances), each partition from its store's checkpoint, the only position there is. Each batch is applied with
 * its checkpoint in one write, as a restore does.
 */

export interface StandbyParts {
  serviceId: string;
  logger: Logger;
  metricsRegistry: Registry;
  storeType: 'persistent' | 'memory';
  /** num.standby.replicas of this instance: 0 keeps no standby here (local state is still reported). */
  standbyReplicas: number;
  /** `<state.dir>/<application.id>`: a folder per task. */
  stateFolder: string;
  /** The partition and stores of a task with stores; undefined for any other. */
  statefulTask(id: string): { partition: number; stores: string[] } | undefined;
  changelogTopic(store: string): string;
  /** True while the task is assigned here (open or opening): it has no standby here. */
  activeHere(id: string): boolean;
}

/** A standby replica as `LightStreams.standbyTasks()` lists it. */
export interface StandbyTaskInfo {
  id: string;
  partition: number;
  /** Per store: the changelog offset its copy has reached, and how many records it is behind the changelog's end (last measured). */
  stores: { store: string; checkpoint: string | undefined; lag: number | undefined }[];
}

interface StandbyTask {
  id: string;
  partition: number;
  stores: string[];
  storage: TaskStorage;
  /** Per store: the changelog's end (read_committed) as last measured. */
  ends: Map<string, bigint>;
}

/** How often standby lags are measured and standbys that could not open (a folder still in use) are tried again. */
const POLL_MS = 2000;
/** A rebalance's placement is read this many times at most (the group may be rebalancing again meanwhile). */
const REFRESH_ATTEMPTS = 5;

export class StandbyTasks {
  private readonly standbys = new Map<string, StandbyTask>();
  /** The standbys the group's last placement gives this instance: task id -> partition. */
  private desired = new Map<string, number>();
  /** Tasks whose local state was seen (an active task that closed here, state found at start): their checkpoint sums. */
  private readonly warm = new Map<string, string>();
  private clients: StreamsClients | undefined;
  private follower: PartitionFollower | undefined;
  /** The followed partitions as one string: the reader is started again when it changes. */
  private followed = '';
  private queue: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private refreshes = 0;
  private stopped = true;
  private metrics: StandbyMetrics | undefined;
  /** Ends the wait between two reads of the placement (a stop does not wait for it). */
  private wake: (() => void) | undefined;

  constructor(private readonly parts: StandbyParts) {}

  /** Starts with the streams: local state found in state.dir is reported to the group from the first join. */
  start(clients: StreamsClients): void {
    this.clients = clients;
    this.stopped = false;
    this.metrics = registerStandbyMetrics(this.parts.metricsRegistry);
    if (this.parts.storeType === 'persistent') this.scanLocalState();
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    this.timer.unref();
  }

  /** What this instance tells the group at a join: its active tasks and how far its local copies of the others go. */
  report(processId: string, active: readonly string[]): MemberReport {
    const warm: Record<string, string> = {};
    for (const [id, sum] of this.warm) warm[id] = sum;
    for (const standby of this.standbys.values()) warm[standby.id] = checkpointSum(standby.storage, standby.stores);
    for (const id of active) delete warm[id];
    return { processId, active: [...active], warm };
  }

  /** After each rebalance: reads this instance's placement from the group and makes the standbys match it. */
  afterRebalance(): void {
    if (this.stopped || (this.parts.standbyReplicas === 0 && this.standbys.size === 0)) return;
    const refresh = ++this.refreshes;
    void this.serially(async () => {
      for (let attempt = 1; attempt <= REFRESH_ATTEMPTS; attempt++) {
        if (this.stopped || refresh !== this.refreshes) return;
        try {
          const members = await this.clients!.groupMembers();
          const self = members.find((member) => member.self);
          if (self) {
            const wanted = this.parts.standbyReplicas === 0 ? [] : (self.standbyTasks ?? []);
            const desired = new Map<string, number>();
            for (const id of wanted) {
              const task = this.parts.statefulTask(id);
              if (task) desired.set(id, task.partition);
            }
            this.desired = desired;
            await this.reconcile();
            return;
          }
        } catch (error) {
          this.parts.logger.debug('the group cannot be described yet for the standby placement', { attempt, error: reasonOf(error) });
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 500 * attempt);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
      this.parts.logger.warn('this instance did not find itself in the group description; its standby replicas stay as they are until the next rebalance', { attempts: REFRESH_ATTEMPTS });
    });
  }

  /**
   * The standby of a task that becomes active here: its storage is handed over as it is (the task restores from its
   * checkpoints, the tail), or undefined when there is none. Synchronous: no record is applied to it after this.
   */
  take(id: string): { storage: TaskStorage; checkpoints: Record<string, string | undefined>; lag: number | undefined } | undefined {
    const standby = this.standbys.get(id);
    if (!standby) return undefined;
    this.standbys.delete(id);
    this.forgetLag(standby);
    const checkpoints: Record<string, string | undefined> = {};
    for (const store of standby.stores) checkpoints[store] = standby.storage.checkpoint(store);
    // The reader goes on without its partitions (anything it still hands over for them is dropped: see apply).
    void this.serially(() => this.follow());
    return { storage: standby.storage, checkpoints, lag: lagOf(standby) };
  }

  /** An active task's storage is about to close here: how far it reached is reported to the group from now on. */
  remember(id: string, storage: TaskStorage): void {
    // A memory store is gone with its task.
    if (this.parts.storeType !== 'persistent') return;
    const task = this.parts.statefulTask(id);
    if (task) this.warm.set(id, checkpointSum(storage, task.stores));
  }

  /** The standby replicas kept here now. */
  info(): StandbyTaskInfo[] {
    return [...this.standbys.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((standby) => ({
        id: standby.id,
        partition: standby.partition,
        stores: standby.stores.map((store) => {
          const checkpoint = standby.storage.checkpoint(store);
          const end = standby.ends.get(store);
          return { store, checkpoint, lag: end === undefined ? undefined : Number(maxZero(end - BigInt(checkpoint ?? '0'))) };
        }),
      }));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.wake?.();
    await this.serially(async () => {
      await this.stopFollower();
      for (const standby of [...this.standbys.values()]) this.close(standby);
    });
  }

  /** Runs one change of the standbys after the other. */
  private serially(work: () => Promise<void>): Promise<void> {
    const run = this.queue.then(work);
    this.queue = run.catch((error) => this.parts.logger.warn('standby replicas could not be updated; trying again shortly', { error: reasonOf(error) }));
    return this.queue;
  }

  /** Every POLL_MS: lags measured, and the standbys made to match the placement (an open that had to wait, a reader that failed). */
  private async poll(): Promise<void> {
    if (this.stopped || (this.desired.size === 0 && this.standbys.size === 0)) return;
    await this.serially(async () => {
      await this.measureLags();
      await this.reconcile();
    });
  }

  /** Closes what is not wanted (or became active here), opens what is wanted, and follows their changelogs. */
  private async reconcile(): Promise<void> {
    if (this.stopped) return;
    for (const standby of [...this.standbys.values()]) {
      // A standby of a task assigned here stays until the task's open takes it (or the task goes elsewhere again).
      if (!this.desired.has(standby.id) && !this.parts.activeHere(standby.id)) this.close(standby, 'no longer placed here');
    }
    for (const [id, partition] of this.desired) {
      if (this.standbys.has(id) || this.parts.activeHere(id)) continue;
      const task = this.parts.statefulTask(id);
      if (!task) continue;
      const ends = await this.endsOf(task.stores, partition);
      // Checked again after the wait: the task may have become active here meanwhile, or its folder be still open
      // (an active task of it closing): then it is tried again at the next poll.
      const folder = join(this.parts.stateFolder, id);
      if (this.stopped || this.standbys.has(id) || this.parts.activeHere(id) || !this.desired.has(id)) continue;
      if (this.parts.storeType === 'persistent' && LmdbTaskStorage.isOpen(folder)) continue;
      const storage = this.parts.storeType === 'persistent' ? new LmdbTaskStorage(folder, this.parts.logger) : new MemoryTaskStorage();
      for (const store of task.stores) {
        const checkpoint = storage.checkpoint(store);
        // No checkpoint, or one past the changelog's end (the changelog was recreated): from the changelog's start.
        if (checkpoint === undefined || BigInt(checkpoint) > (ends.get(store) ?? 0n)) storage.clear(store);
      }
      const standby: StandbyTask = { id, partition, stores: task.stores, storage, ends };
      this.standbys.set(id, standby);
      this.warm.delete(id);
      this.setLag(standby);
      this.parts.logger.info('standby replica opened', { task: id, stores: task.stores, from: Object.fromEntries(task.stores.map((store) => [store, storage.checkpoint(store) ?? '0'])), lag: lagOf(standby) });
    }
    await this.follow();
  }

  /** (Re)starts the reader when the followed partitions changed. */
  private async follow(): Promise<void> {
    const partitions: FollowedPartition[] = [];
    for (const standby of this.standbys.values()) {
      for (const store of standby.stores) partitions.push({ topic: this.parts.changelogTopic(store), partition: standby.partition, from: standby.storage.checkpoint(store) ?? '0' });
    }
    const followed = partitions.map(({ topic, partition }) => `${topic}:${partition}`).sort().join(',');
    if (followed === this.followed && (this.follower || partitions.length === 0)) return;
    await this.stopFollower();
    this.followed = followed;
    if (partitions.length === 0 || this.stopped) return;
    const byPartition = new Map<string, { standby: StandbyTask; store: string }>();
    for (const standby of this.standbys.values()) for (const store of standby.stores) byPartition.set(`${this.parts.changelogTopic(store)}:${standby.partition}`, { standby, store });
    let failed = false;
    const follower = await this.clients!.followPartitions(
      partitions,
      (topic, partition, messages, next) => {
        const target = byPartition.get(`${topic}:${partition}`);
        // A standby taken (its task active here) or closed since the reader started: nothing more goes to it.
        if (!target || failed || this.standbys.get(target.standby.id) !== target.standby) return;
        this.apply(target.standby, target.store, messages, next);
      },
      (error) => {
        failed = true;
        this.parts.logger.warn('the standby reader stopped on an error; it starts again shortly', { error: reasonOf(error) });
        // Started again by the next poll.
        if (this.followed === followed) this.followed = '';
      },
    );
    if (this.stopped || this.followed !== followed) await follower.stop();
    else this.follower = follower;
  }

  private apply(standby: StandbyTask, store: string, messages: DriverMessage[], next: string): void {
    const checkpoint = standby.storage.checkpoint(store);
    if (checkpoint !== undefined && BigInt(next) <= BigInt(checkpoint)) return;
    standby.storage.apply(store, changelogWrites(messages), next);
    if (messages.length > 0) this.metrics!.applied.inc({ serviceId: this.parts.serviceId, store }, messages.length);
    const end = standby.ends.get(store);
    if (end === undefined || BigInt(next) > end) standby.ends.set(store, BigInt(next));
    this.metrics!.lag.set({ serviceId: this.parts.serviceId, store, partition: String(standby.partition) }, Number(maxZero(standby.ends.get(store)! - BigInt(next))));
  }

  private async stopFollower(): Promise<void> {
    const follower = this.follower;
    this.follower = undefined;
    this.followed = '';
    await follower?.stop();
  }

  private close(standby: StandbyTask, reason?: string): void {
    this.standbys.delete(standby.id);
    this.forgetLag(standby);
    if (this.parts.storeType === 'persistent') this.warm.set(standby.id, checkpointSum(standby.storage, standby.stores));
    standby.storage.close();
    if (reason) this.parts.logger.info('standby replica closed', { task: standby.id, reason });
  }

  /** The changelog ends (read_committed) of a task's stores at a partition. */
  private async endsOf(stores: string[], partition: number): Promise<Map<string, bigint>> {
    const ends = new Map<string, bigint>();
    for (const store of stores) ends.set(store, BigInt((await this.clients!.endOffsets(this.parts.changelogTopic(store))).get(partition) ?? '0'));
    return ends;
  }

  private async measureLags(): Promise<void> {
    const topics = new Map<string, Map<number, string>>();
    for (const standby of [...this.standbys.values()]) {
      for (const store of standby.stores) {
        const topic = this.parts.changelogTopic(store);
        try {
          if (!topics.has(topic)) topics.set(topic, await this.clients!.endOffsets(topic));
        } catch {
          continue;
        }
        const end = topics.get(topic)!.get(standby.partition);
        if (end !== undefined) standby.ends.set(store, BigInt(end));
      }
      if (this.standbys.get(standby.id) === standby) this.setLag(standby);
    }
  }

  private setLag(standby: StandbyTask): void {
    for (const store of standby.stores) {
      const end = standby.ends.get(store);
      if (end !== undefined) this.metrics!.lag.set({ serviceId: this.parts.serviceId, store, partition: String(standby.partition) }, Number(maxZero(end - BigInt(standby.storage.checkpoint(store) ?? '0'))));
    }
  }

  private forgetLag(standby: StandbyTask): void {
    for (const store of standby.stores) this.metrics?.lag.remove({ serviceId: this.parts.serviceId, store, partition: String(standby.partition) });
  }

  /** The tasks with stores found in state.dir at start (a restart, or tasks this instance owned before). */
  private scanLocalState(): void {
    let names: string[];
    try {
      names = readdirSync(this.parts.stateFolder, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
    } catch {
      return;
    }
    for (const id of names) {
      const task = this.parts.statefulTask(id);
      const folder = join(this.parts.stateFolder, id);
      if (!task || LmdbTaskStorage.isOpen(folder)) continue;
      try {
        const storage = new LmdbTaskStorage(folder, this.parts.logger);
        try {
          if (task.stores.some((store) => storage.checkpoint(store) !== undefined)) this.warm.set(id, checkpointSum(storage, task.stores));
        } finally {
          storage.close();
        }
      } catch (error) {
        this.parts.logger.debug('local state of a task cannot be read', { task: id, error: reasonOf(error) });
      }
    }
  }
}

/** The sum of a task's stores' checkpoints: how far its local copy goes (Kafka Streams' task offset sum). */
function checkpointSum(storage: TaskStorage, stores: readonly string[]): string {
  let sum = 0n;
  for (const store of stores) sum += BigInt(storage.checkpoint(store) ?? '0');
  return sum.toString();
}

/** Records a standby is behind, over its stores (undefined before its changelogs' ends were measured). */
function lagOf(standby: StandbyTask): number | undefined {
  let lag = 0n;
  for (const store of standby.stores) {
    const end = standby.ends.get(store);
    if (end === undefined) return undefined;
    lag += maxZero(end - BigInt(standby.storage.checkpoint(store) ?? '0'));
  }
  return Number(lag);
}

function maxZero(value: bigint): bigint {
  return value > 0n ? value : 0n;
}

interface StandbyMetrics {
  lag: Gauge<'serviceId' | 'store' | 'partition'>;
  applied: Counter<'serviceId' | 'store'>;
}

/** Registers (or finds) the standby metrics in a registry. */
export function registerStandbyMetrics(registry: Registry): StandbyMetrics {
  return {
    lag: registeredGauge(registry, {
      name: 'light_kafka_streams_standby_lag_records',
      help: "Changelog records a standby replica's store partition is behind the changelog's end (no series while no standby of it is kept here)",
      labelNames: ['serviceId', 'store', 'partition'],
    }),
    applied: registeredCounter(registry, { name: 'light_kafka_streams_standby_records_total', help: 'Changelog records applied to standby replicas', labelNames: ['serviceId', 'store'] }),
  };
}
