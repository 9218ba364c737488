import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Partitioners } from 'kafkajs';
import { LightService } from '../../index.js';
import { countsPerKey } from '../fixtures/streams/count-topology.js';
import { streamsServiceConfig } from '../support/config-dir.js';
import { createTopics, produceRaw, readToEnd, uniqueName, waitFor } from '../support/kafka.js';

/**
 * Exactly-once across rebalances, forced deterministically: the commit interval is longer than the test, so every
 * task holds uncommitted work (outputs, store writes, input offsets in its open transaction) when the group
 * rebalances. A second instance joins — the first keeps half of its tasks and loses the other half — then leaves —
 * the first gets them back. After every rebalance the consumer resumes each partition from the group's committed
 * offset, also the ones that stayed; a kept task must not run its uncommitted records again into the same
 * transaction, and a revoked task's work must be done once by its next owner. The output, read read_committed,
 * must hold each input's effect exactly once.
 */
const KEYS = 24;
const PER_KEY = 25;
const PARTITIONS = 4;

function config(applicationId: string, stateDir: string): string {
  // A commit interval longer than the test: nothing is committed but by a stop, so each rebalance meets uncommitted work.
  return streamsServiceConfig('eos-rebalance', applicationId, stateDir, { commitIntervalMs: 600_000, stopTimeoutMs: 30_000, heartbeatMs: 500 });
}

/** A counting instance that tells, per key, how many input records its topology ran (committed or not). */
async function startInstance(dir: string, input: string, output: string): Promise<{ service: LightService; seen: Map<string, number> }> {
  const service = await LightService.create({ configDir: dir });
  const seen = new Map<string, number>();
  service.streams
    .builder()
    .stream<string, { n: number }>(input)
    .peek((key) => seen.set(key, (seen.get(key) ?? 0) + 1))
    .groupByKey()
    .count({ store: 'counts' })
    .toStream()
    .to(output);
  await service.start();
  return { service, seen };
}

/** The input partition of a key, as the producer's default partitioner (murmur2, as Java's) places it. */
const partitioner = Partitioners.DefaultPartitioner();
function partitionOf(key: string): number {
  return partitioner({ topic: '', partitionMetadata: Array.from({ length: PARTITIONS }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] })), message: { key, value: null } });
}

/**
 * True once the instance's tasks are all open and it ran every record of every key of their partitions (counted
 * since `since`: what it ran before a rebalance and kept is not run again).
 */
function ranAssignedPartitions(instance: { service: LightService; seen: Map<string, number> }, since: Map<string, number> = new Map()): boolean {
  const tasks = instance.service.streams.localTasks();
  if (tasks.length === 0 || tasks.some((task) => !task.open)) return false;
  const partitions = new Set(tasks.map((task) => task.partition));
  const keys = Array.from({ length: KEYS }, (_, k) => `k${k}`).filter((key) => partitions.has(partitionOf(key)));
  return keys.every((key) => (instance.seen.get(key) ?? 0) - (since.get(key) ?? 0) >= PER_KEY);
}

describe('LightStreams exactly_once across rebalances @broker', function () {
  this.timeout(240_000);
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('a rebalance while tasks hold uncommitted work (kept, revoked and newly assigned partitions) commits each input once', async () => {
    const input = uniqueName('eos-rebalance-in');
    const output = uniqueName('eos-rebalance-out');
    await createTopics([input, output], PARTITIONS);
    const records = [];
    for (let seq = 0; seq < PER_KEY; seq++) for (let k = 0; k < KEYS; k++) records.push({ key: `k${k}`, value: JSON.stringify({ n: seq }), headers: { 'X-Correlation-Id': `k${k}-${seq}` } });
    await produceRaw(input, records);
    const applicationId = uniqueName('eos-rebalance');
    const stateDir = (): string => {
      const dir = mkdtempSync(join(tmpdir(), 'light-kafka-eos-rebalance-'));
      dirs.push(dir);
      return dir;
    };

    const first = await startInstance(config(applicationId, stateDir()), input, output);
    let second: Awaited<ReturnType<typeof startInstance>> | undefined;
    try {
      await waitFor(() => first.service.streams.localTasks().length === PARTITIONS && ranAssignedPartitions(first), 60_000, 'the first instance ran every input (nothing committed yet)');

      // Rebalance 1: the second joins; the first keeps two of its four tasks, uncommitted work and all.
      second = await startInstance(config(applicationId, stateDir()), input, output);
      await waitFor(() => ranAssignedPartitions(second!) && first.service.streams.localTasks().length < PARTITIONS, 60_000, 'the second instance ran the partitions it was given');
      expect(second.seen.size, 'keys the second instance took over').to.be.within(1, KEYS - 1);

      // Rebalance 2: the second leaves (committing its tasks); the first gets their partitions back and has nothing
      // left to run (what the second did is committed, what the first kept is in its open work).
      await second.service.stop();
      second = undefined;
      await waitFor(() => first.service.streams.localTasks().length === PARTITIONS && first.service.streams.localTasks().every((task) => task.open), 60_000, 'the first instance owns every task again');
    } finally {
      await second?.service.stop();
      // The first commits what it holds.
      await first.service.stop();
    }

    const updates = countsPerKey(await readToEnd(output));
    expect(updates.size).to.equal(KEYS);
    for (const [key, list] of updates) {
      // Each input's effect exactly once: counts 1..PER_KEY in order, each from its own input.
      expect(list.map(({ count }) => count), key).to.deep.equal(Array.from({ length: PER_KEY }, (_, i) => i + 1));
      expect(list.map(({ correlationId }) => correlationId), key).to.deep.equal(Array.from({ length: PER_KEY }, (_, i) => `${key}-${i}`));
    }
  });
});
