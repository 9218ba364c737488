import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { createLogger } from '../../core/logger.js';
import { LightService } from '../../index.js';
import { countsPerKey, produceCountInputs } from '../fixtures/streams/count-topology.js';
import { streamsServiceConfig } from '../support/config-dir.js';
import { brokers, createTopics, readToEnd, uniqueName, waitFor } from '../support/kafka.js';

/**
 * Standby replicas (num.standby.replicas: 1) on two instances, on the transport of the run (SERVICE_TRANSPORT): a
 * store of a few thousand keys over two tasks; each instance owns one task and keeps a warm copy of the other's.
 * The copy must track the owner's changelog; when the owner is killed (SIGKILL: no commit, no leave), its task
 * moves to the survivor, which restores only the changelog records its copy had not read yet, not the changelog;
 * and the read_committed output holds each input once.
 */
const PARTITIONS = 2;
const KEYS = 4000;

function config(applicationId: string, stateDir: string): string {
  return streamsServiceConfig('standby-test', applicationId, stateDir, { sessionTimeoutMs: 6000, heartbeatMs: 500, streamsExtra: '  num.standby.replicas: 1\n' });
}

const partitioner = Partitioners.DefaultPartitioner();
function partitionOf(key: string): number {
  return partitioner({ topic: '', partitionMetadata: Array.from({ length: PARTITIONS }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] })), message: { key, value: null } });
}

/** The counting instance (test/fixtures/streams/standby-process.ts) in a child process, to be killed with SIGKILL. */
function startChild(dir: string, input: string, output: string): Promise<{ child: ChildProcess; exited: Promise<void>; output: string[] }> {
  const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist', 'test', 'fixtures', 'streams', 'standby-process.js'), dir, input, output], {
    env: { ...process.env, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the child did not start within 90 s: ${lines.join('\n')}`)), 90_000);
    const onLine = (line: string): void => {
      lines.push(line);
      if (line === 'started') {
        clearTimeout(timer);
        resolve({ child, exited, output: lines });
      }
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the child exited (${signal ?? code}) before it started: ${lines.join('\n')}`));
    });
  });
}

async function endOffsets(topic: string): Promise<Map<number, bigint>> {
  const admin = new Kafka({ brokers: brokers(), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return new Map((await admin.fetchTopicOffsets(topic)).map(({ partition, high }) => [partition, BigInt(high)]));
  } finally {
    await admin.disconnect();
  }
}

/** The counting topology (as the child's) on an in-process instance, its log lines (info) kept in `lines`. */
async function startCounting(dir: string, input: string, output: string, lines: string[]): Promise<LightService> {
  const service = await LightService.create({ configDir: dir, logger: createLogger({ level: 'info', sink: (line) => lines.push(line) }) });
  service.streams.builder().stream<string, unknown>(input).groupByKey().count({ store: 'counts' }).toStream().to(output);
  await service.start();
  return service;
}

/** The fields of the first log line with message `msg`. */
function logged(lines: string[], msg: string, task?: string): { msg: string; task?: string; restored?: number } | undefined {
  return lines.map((line) => JSON.parse(line) as { msg: string; task?: string; restored?: number }).find((line) => line.msg === msg && (task === undefined || line.task === task));
}

function sum(offsets: Map<number, bigint>): bigint {
  return [...offsets.values()].reduce((total, end) => total + end, 0n);
}

/** Each key's output: counts 1..n in order, each from its own input (correlation id `<key>-<seq>`). */
function expectExactlyOnce(updates: Map<string, { count: number; correlationId: string }[]>, expected: (key: string) => number): void {
  for (const [key, list] of updates) {
    const counts = Array.from({ length: expected(key) }, (_, i) => i + 1);
    expect(list.map(({ count }) => count), key).to.deep.equal(counts);
    expect(list.map(({ correlationId }) => correlationId), key).to.deep.equal(counts.map((count) => `${key}-${count - 1}`));
  }
}

async function restoredRecords(service: LightService): Promise<number> {
  const metric = await service.metricsRegistry.getSingleMetric('light_kafka_streams_restored_records_total')?.get();
  return (metric?.values ?? []).reduce((sum, { value }) => sum + value, 0);
}

describe('LightStreams standby replicas @broker', function () {
  this.timeout(300_000);
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const stateDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'light-kafka-standby-'));
    dirs.push(dir);
    return dir;
  };

  it('a warm copy tracks the owner’s changelog; the owner killed, its task resumes on the copy after restoring only the tail, exactly once', async () => {
    const input = uniqueName('standby-in');
    const output = uniqueName('standby-out');
    await createTopics([input, output], PARTITIONS);
    const applicationId = uniqueName('standby');
    const changelog = `${applicationId}-counts-changelog`;
    const keys = Array.from({ length: KEYS }, (_, k) => `k${k}`);
    await produceCountInputs(input, keys, 0);

    // The owner-to-be runs alone first: it counts every key (a store of KEYS keys over two tasks).
    const owner = await startChild(config(applicationId, stateDir()), input, output);
    let survivor: LightService | undefined;
    let ownersPartition = -1;
    try {
      await waitFor(async () => sum(await endOffsets(output)) >= BigInt(KEYS), 90_000, 'the first instance counted every key');

      // The second joins: one task each, each instance with a standby of the other's.
      const lines: string[] = [];
      survivor = await startCounting(config(applicationId, stateDir()), input, output, lines);
      const streams = survivor.streams;
      await waitFor(() => streams.localTasks().length === 1 && streams.localTasks()[0]!.open && streams.standbyTasks().length === 1, 90_000, 'the second instance runs one task and keeps a standby of the other');
      const [standby] = streams.standbyTasks();
      ownersPartition = standby!.partition;
      expect(streams.localTasks()[0]!.partition).to.not.equal(ownersPartition);

      // The copy tracks the owner's changelog: its checkpoint reaches the changelog partition's end.
      const trackedEnd = (await endOffsets(changelog)).get(ownersPartition)!;
      expect(Number(trackedEnd)).to.be.at.least(KEYS / PARTITIONS / 2);
      await waitFor(() => BigInt(streams.standbyTasks()[0]?.stores[0]?.checkpoint ?? '-1') >= trackedEnd, 60_000, 'the standby read the changelog to its end');
      expect(streams.store<number>('counts').all().length, 'keys of the task it runs (the standby is not queried)').to.be.below(KEYS);

      // More records for the owner's keys; the owner is killed while it processes them.
      const ownersKeys = keys.filter((key) => partitionOf(key) === ownersPartition);
      const outputBefore = (await endOffsets(output)).get(ownersPartition)!;
      await produceCountInputs(input, ownersKeys, 1);
      await waitFor(async () => (await endOffsets(output)).get(ownersPartition)! >= outputBefore + 200n, 60_000, 'the owner processed part of the second wave');
      const copyAtKill = BigInt(streams.standbyTasks()[0]?.stores[0]?.checkpoint ?? '0');
      const restoredBefore = await restoredRecords(survivor);
      owner.child.kill('SIGKILL');
      await owner.exited;
      const killedAt = Date.now();

      await waitFor(() => streams.localTasks().length === PARTITIONS && streams.localTasks().every((task) => task.open), 90_000, 'the survivor runs both tasks');
      const openedAfterMs = Date.now() - killedAt;
      await waitFor(() => ownersKeys.every((key) => streams.store<number>('counts').get(key) === 2), 60_000, 'the survivor counted the rest of the second wave');
      const restored = (await restoredRecords(survivor)) - restoredBefore;
      const changelogEnd = (await endOffsets(changelog)).get(ownersPartition)!;
      const opened = logged(lines, 'streams task opened from a warm standby');
      expect(opened, 'the log line of the task opened from its standby').to.not.equal(undefined);
      expect(opened!.restored).to.equal(restored);
      // Only the tail: what the owner committed after the copy's last read, never the changelog from its start.
      expect(restored, `records restored (copy at ${copyAtKill}, changelog end ${changelogEnd}, opened ${openedAfterMs} ms after the kill)`).to.be.at.most(Number(changelogEnd - copyAtKill));
      expect(restored).to.be.below(Number(trackedEnd) / 4);
      expect(streams.standbyTasks(), 'no standby of a task it runs').to.deep.equal([]);
      for (const key of keys) expect(streams.store<number>('counts').get(key), key).to.equal(partitionOf(key) === ownersPartition ? 2 : 1);
    } finally {
      owner.child.kill('SIGKILL');
      await survivor?.stop();
    }

    // Exactly once: each key's counts 1..n in order, each from its own input. The killed owner's open transaction
    // holds read_committed readers until the broker aborts it: transaction.timeout.ms (10 s on kafkajs, 30 s on
    // librdkafka) + its check (<= 10 s).
    const updates = countsPerKey(await readToEnd(output, { timeoutMs: 60_000 }));
    expect(updates.size).to.equal(KEYS);
    expectExactlyOnce(updates, (key) => (partitionOf(key) === ownersPartition ? 2 : 1));
  });

  it('a standby’s files stay when it closes: reopened after the owner died, the task restores exactly the records after the copy’s checkpoint', async () => {
    const input = uniqueName('standby-files-in');
    const output = uniqueName('standby-files-out');
    await createTopics([input, output], PARTITIONS);
    const applicationId = uniqueName('standby-files');
    const changelog = `${applicationId}-counts-changelog`;
    const keys = Array.from({ length: KEYS }, (_, k) => `k${k}`);
    await produceCountInputs(input, keys, 0);
    const owner = await startChild(config(applicationId, stateDir()), input, output);
    const survivorDir = config(applicationId, stateDir());
    let survivor: LightService | undefined;
    let ownersPartition = -1;
    try {
      await waitFor(async () => sum(await endOffsets(output)) >= BigInt(KEYS), 90_000, 'the first instance counted every key');
      survivor = await startCounting(survivorDir, input, output, []);
      const streams = survivor.streams;
      await waitFor(() => streams.localTasks().some((task) => task.open) && streams.standbyTasks().length === 1, 90_000, 'the second instance runs one task and keeps a standby of the other');
      ownersPartition = streams.standbyTasks()[0]!.partition;
      const copied = (await endOffsets(changelog)).get(ownersPartition)!;
      await waitFor(() => BigInt(streams.standbyTasks()[0]?.stores[0]?.checkpoint ?? '-1') >= copied, 60_000, 'the standby read the changelog to its end');
      // The second stops: its standby closes, its files stay at the checkpoint `copied`.
      await survivor.stop();
      survivor = undefined;

      // The owner runs on alone and writes a tail: one changelog record per key of its partition.
      const ownersKeys = keys.filter((key) => partitionOf(key) === ownersPartition);
      await produceCountInputs(input, ownersKeys, 1);
      await waitFor(async () => (await endOffsets(changelog)).get(ownersPartition)! >= copied + BigInt(ownersKeys.length), 60_000, 'the owner counted the tail');
      owner.child.kill('SIGKILL');
      await owner.exited;
      const changelogEnd = (await endOffsets(changelog)).get(ownersPartition)!;

      // The second starts again on its state: alone in the group, it opens the dead owner's task from the copy.
      const lines: string[] = [];
      survivor = await startCounting(survivorDir, input, output, lines);
      const again = survivor.streams;
      await waitFor(() => again.localTasks().length === PARTITIONS && again.localTasks().every((task) => task.open), 90_000, 'the restarted instance runs both tasks');
      const task = again.localTasks().find((candidate) => candidate.partition === ownersPartition)!;
      const opened = logged(lines, 'streams task opened', task.id);
      expect(opened?.restored, `records restored for ${task.id} (copy at ${copied}, changelog end ${changelogEnd})`).to.equal(ownersKeys.length);
      for (const key of keys) expect(again.store<number>('counts').get(key), key).to.equal(partitionOf(key) === ownersPartition ? 2 : 1);
    } finally {
      owner.child.kill('SIGKILL');
      await survivor?.stop();
    }
    expectExactlyOnce(countsPerKey(await readToEnd(output, { timeoutMs: 60_000 })), (key) => (partitionOf(key) === ownersPartition ? 2 : 1));
  });
  it('three instances: the tasks of the killed one resume on the instances holding their standbys, each restoring only its tail', async () => {
    const partitions = 4;
    const input = uniqueName('standby-three-in');
    const output = uniqueName('standby-three-out');
    await createTopics([input, output], partitions);
    const applicationId = uniqueName('standby-three');
    const keys = Array.from({ length: KEYS }, (_, k) => `k${k}`);
    await produceCountInputs(input, keys, 0);
    const victim = await startChild(config(applicationId, stateDir()), input, output);
    const lines = [[], []] as string[][];
    const survivors: LightService[] = [];
    let victimsTasks: string[] = [];
    try {
      await waitFor(async () => sum(await endOffsets(output)) >= BigInt(KEYS), 90_000, 'the first instance counted every key');
      for (const list of lines) survivors.push(await startCounting(config(applicationId, stateDir()), input, output, list));
      const ownedBySurvivors = (): string[] => survivors.flatMap((service) => service.streams.localTasks().filter((task) => task.open).map((task) => task.id));
      const standbysOfSurvivors = (): { id: string; caughtUp: boolean }[] =>
        survivors.flatMap((service) => service.streams.standbyTasks().map(({ id, stores }) => ({ id, caughtUp: stores.every((store) => store.lag === 0) })));
      // Settled: each survivor runs a task; the victim's tasks (the others) each have a caught-up standby on a survivor.
      await waitFor(
        () => {
          const owned = ownedBySurvivors();
          if (survivors.some((service) => !service.streams.localTasks().some((task) => task.open)) || owned.length >= partitions) return false;
          const standbys = standbysOfSurvivors();
          victimsTasks = Array.from({ length: partitions }, (_, p) => `${input}-${p}`).filter((id) => !owned.includes(id));
          return victimsTasks.every((id) => standbys.some((standby) => standby.id === id && standby.caughtUp));
        },
        90_000,
        'three instances each running tasks, the victim’s tasks with caught-up standbys on the others',
      );
      for (const service of survivors) for (const standby of service.streams.standbyTasks()) expect(service.streams.localTasks().map((task) => task.id), 'a standby on its owner').to.not.include(standby.id);

      // A second record per key; the victim is killed while the instances process them.
      const before = sum(await endOffsets(output));
      await produceCountInputs(input, keys, 1);
      await waitFor(async () => sum(await endOffsets(output)) >= before + 300n, 60_000, 'part of the second wave processed');
      victim.child.kill('SIGKILL');
      await victim.exited;
      await waitFor(() => ownedBySurvivors().length === partitions && survivors.every((service) => service.streams.localTasks().every((task) => task.open)), 90_000, 'the survivors run every task');
      for (const id of victimsTasks) {
        const index = survivors.findIndex((service) => service.streams.localTasks().some((task) => task.id === id));
        const opened = logged(lines[index]!, 'streams task opened from a warm standby', id);
        expect(opened, `${id} opened from a warm standby on ${index === 0 ? 'the first' : 'the second'} survivor`).to.not.equal(undefined);
        expect(opened!.restored, `${id}: records restored`).to.be.below(KEYS / partitions / 4);
      }
      await waitFor(() => keys.every((key) => survivors.some((service) => service.streams.store<number>('counts').get(key) === 2)), 60_000, 'every key counted twice on a survivor');
    } finally {
      victim.child.kill('SIGKILL');
      for (const service of survivors) await service.stop();
    }
    expectExactlyOnce(countsPerKey(await readToEnd(output, { timeoutMs: 60_000 })), () => 2);
  });
});
