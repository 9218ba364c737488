import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Kafka, logLevel } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { LightService } from '../../index.js';
import type { KafkaHandle } from '../../scripts/kafka-local.js';
import { useCluster } from '../support/cluster.js';
import { resizeUnderLoad } from '../support/group-resize.js';
import { configDir, serviceYml } from '../support/config-dir.js';
import { effectiveSessionTimeoutMs, groupTimingLines } from '../support/group-protocol.js';
import { countsPerKey } from '../fixtures/streams/count-topology.js';
import { readToEnd, uniqueName } from '../support/kafka.js';
import { retryTransient } from '../../core/kafka/transient.js';

/**
 * Coordinators die on a local 3-broker cluster (replication factor 3, min.insync.replicas 2): the group
 * coordinator while a group consumes, the transaction coordinator while transactions commit, and a group resized
 * under load; and a LightStreams instance paused past its session timeout (a zombie) under exactly_once. Each finds no record lost, and reports duplicates and how long recovery took.
 */
const PARTITIONS = 3;

/** Java's String.hashCode, as Kafka uses it to place a group or a transactional.id on a coordinator partition. */
function javaHash(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = (Math.imul(hash, 31) + text.charCodeAt(i)) | 0;
  return hash;
}

describe('coordinator failover on a 3-broker cluster @cluster', function () {
  this.timeout(600_000);
  let cluster: KafkaHandle;
  let kafka: Kafka;

  before(async function () {
    this.timeout(300_000);
    // The run's shared cluster (test/support/cluster.ts): started by the suite runner, or here on first use.
    cluster = await useCluster();
    kafka = new Kafka({ brokers: cluster.brokers.split(','), clientId: 'coordinator-test', logLevel: logLevel.NOTHING });
  });


  /** The broker leading the partition of an internal topic (__consumer_offsets / __transaction_state) that `id` hashes to. */
  async function coordinatorOf(internalTopic: string, id: string): Promise<number> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      for (const deadline = Date.now() + 60_000; ; ) {
        const metadata = await admin.fetchTopicMetadata({ topics: [internalTopic] }).catch(() => undefined);
        const partitions = metadata?.topics[0]?.partitions ?? [];
        if (partitions.length > 0) {
          const partition = (javaHash(id) & 0x7fffffff) % partitions.length;
          return partitions.find((candidate) => candidate.partitionId === partition)!.leader;
        }
        if (Date.now() > deadline) throw new Error(`no metadata for ${internalTopic}`);
        await sleep(500);
      }
    } finally {
      await admin.disconnect();
    }
  }

  async function killFor(nodeId: number, downMs: number): Promise<void> {
    const node = cluster.nodes.find((candidate) => candidate.nodeId === nodeId)!;
    await node.kill('SIGKILL');
    await sleep(downMs);
    await node.restart();
  }

  async function createTopic(topic: string): Promise<void> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 3 }], waitForLeaders: false });
      for (const deadline = Date.now() + 60_000; ; ) {
        const ready = await admin
          .fetchTopicMetadata({ topics: [topic] })
          .then(({ topics }) => topics[0]!.partitions.length === PARTITIONS && topics[0]!.partitions.every((partition) => partition.leader >= 0 && partition.isr.length === 3))
          .catch(() => false);
        if (ready) return;
        if (Date.now() > deadline) throw new Error(`${topic} not ready`);
        await sleep(200);
      }
    } finally {
      await admin.disconnect();
    }
  }

  async function fill(topic: string, count: number): Promise<void> {
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    for (let i = 0; i < count; i += 500) await producer.send({ topic, acks: -1, messages: Array.from({ length: Math.min(500, count - i) }, (_, n) => ({ key: `k${(i + n) % 60}`, value: JSON.stringify({ seq: i + n }) })) });
    await producer.disconnect();
  }

  function consumerService(groupId: string, name: string): Promise<LightService> {
    return LightService.create({
      configDir: configDir({
        'service.yml': serviceYml(name, 'stopTimeoutMs: 20000\n'),
        'kafka-consumer.yml': `properties:\n  bootstrap.servers: ${cluster.brokers}\n  group.id: ${groupId}\n  auto.offset.reset: earliest\n${groupTimingLines(10000, 1000)}  auto.commit.interval.ms: 500\nmaxRetries: 1\nretryDelayMs: 50\n`,
        'kafka-producer.yml': `properties:\n  bootstrap.servers: ${cluster.brokers}\n`,
      }),
    });
  }

  it('the group coordinator is killed while a group consumes: no record lost, consumption goes on without the user', async () => {
    const topic = uniqueName('coordinator');
    const groupId = uniqueName('coordinator-group');
    const records = 6000;
    await createTopic(topic);
    await fill(topic, records);
    const seen = new Map<number, number>();
    const service = await consumerService(groupId, 'coordinator-consumer');
    service.consumer.handle(topic, async (exchange) => {
      const { seq } = exchange.value as { seq: number };
      seen.set(seq, (seen.get(seq) ?? 0) + 1);
      await sleep(2);
    });
    await service.start();
    let killedAt = 0;
    try {
      while (seen.size < records / 4) await sleep(50);
      const coordinator = await coordinatorOf('__consumer_offsets', groupId);
      killedAt = Date.now();
      const restart = killFor(coordinator, 10_000);
      while (seen.size < records && Date.now() - killedAt < 240_000) await sleep(100);
      await restart;
    } finally {
      await service.stop();
    }
    const lost = Array.from({ length: records }, (_, seq) => seq).filter((seq) => !seen.has(seq));
    const duplicates = [...seen.values()].reduce((sum, count) => sum + count - 1, 0);
    console.log(`      ${service.transport}: group coordinator killed: of ${records} records ${lost.length} lost, ${duplicates} duplicates, all processed ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill`);
    expect(lost, 'records never processed').to.deep.equal([]);
  });

  it('the transaction coordinator is killed while transactions commit: each committed transaction is seen once, nothing of one that threw', async () => {
    const topic = uniqueName('tx-coordinator');
    await createTopic(topic);
    const transactionalId = uniqueName('tx-coordinator-id');
    const service = await LightService.create({
      configDir: configDir({
        'service.yml': serviceYml('tx-coordinator', 'stopTimeoutMs: 20000\n'),
        'kafka-producer.yml': `properties:\n  bootstrap.servers: ${cluster.brokers}\n  transactional.id: ${transactionalId}\n  retries: 10\n  retry.backoff.max.ms: 2000\n`,
        'kafka-consumer.yml': `properties:\n  bootstrap.servers: ${cluster.brokers}\n  group.id: ${uniqueName('tx-unused')}\n`,
      }),
    });
    await service.start();
    const committed: number[] = [];
    const failed: number[] = [];
    let restart: Promise<void> | undefined;
    const started = Date.now();
    try {
      for (let t = 0; t < 60; t++) {
        if (t === 15) restart = killFor(await coordinatorOf('__transaction_state', transactionalId), 10_000);
        try {
          await service.transactionalProducer.transaction(async (tx) => {
            await tx.send(topic, Array.from({ length: 50 }, (_, n) => ({ key: `k${n}`, value: { t, n } })));
          });
          committed.push(t);
        } catch {
          failed.push(t);
        }
      }
      await restart;
    } finally {
      await service.stop();
    }
    // Read read_committed to the end of each partition (a marker per partition: nothing left to a sleep).
    const perTransaction = new Map<number, number>();
    for (const record of await readToEnd(topic, { brokers: cluster.brokers, timeoutMs: 60_000 })) {
      const { t } = JSON.parse(record.value!) as { t: number };
      perTransaction.set(t, (perTransaction.get(t) ?? 0) + 1);
    }
    console.log(`      ${service.transport}: transaction coordinator killed: ${committed.length} transactions committed, ${failed.length} threw, ${((Date.now() - started) / 1000).toFixed(1)} s in all`);
    for (const t of committed) expect(perTransaction.get(t), `committed transaction ${t}`).to.equal(50);
    for (const t of failed) expect(perTransaction.get(t), `transaction ${t} that threw`).to.equal(undefined);
  });

  it('a consumer group resized under load (2 -> 3 -> 1 instances) loses no record and re-delivers at most 5%', async () => {
    const topic = uniqueName('resize');
    const groupId = uniqueName('resize-group');
    const records = 6000;
    await createTopic(topic);
    await fill(topic, records);
    let transport = '';
    const { lost, duplicates, seconds } = await resizeUnderLoad({
      topic,
      records,
      workMs: 3,
      leaving: 2,
      timeoutMs: 240_000,
      member: async (index) => {
        const service = await consumerService(groupId, `resize-${index}`);
        transport = service.transport;
        return service;
      },
    });
    console.log(`      ${transport}: group resized 2 -> 3 -> 1: ${lost.length} lost, ${duplicates} re-delivered of ${records}, ${seconds.toFixed(1)} s`);
    expect(lost, 'records never processed').to.deep.equal([]);
    // Revoked partitions are committed before they move: only records fetched but not yet processed come again.
    expect(duplicates, 're-delivered records').to.be.at.most(records * 0.05);
  });

  it('exactly_once: a streams instance paused past its session timeout (a zombie) wakes and commits nothing twice', async () => {
    const keys = 30;
    const perKey = 100;
    const input = uniqueName('zombie-in');
    const output = uniqueName('zombie-out');
    await createTopic(input);
    await createTopic(output);
    const applicationId = uniqueName('zombie');
    const stateDirs: string[] = [];
    const dir = (): string => {
      const state = mkdtempSync(join(tmpdir(), 'light-kafka-zombie-'));
      stateDirs.push(state);
      return configDir({
        'service.yml': serviceYml('zombie', 'stopTimeoutMs: 30000\n'),
        'kafka-consumer.yml': `properties:\n  bootstrap.servers: ${cluster.brokers}\n  group.id: ${uniqueName('zombie-unused')}\n`,
        'kafka-producer.yml': `properties:\n  bootstrap.servers: ${cluster.brokers}\n`,
        'kafka-streams.yml': `properties:
  bootstrap.servers: ${cluster.brokers}
  application.id: ${applicationId}
  processing.guarantee: exactly_once
  state.dir: ${state}
  # Long enough that the paused instance holds uncommitted work (and, on kafkajs before the fix, an uninitialised transactional id).
  commit.interval.ms: 3000
${groupTimingLines(6000, 1000, 'consumer.')}`,
        'handler.yml': 'handlers: [correlation, kafka/producer@producer]\ndefaultHandlers:\n  produce: [correlation, producer]\n  consume: [correlation]\n',
      });
    };
    const children: ChildProcess[] = [];
    /** Starts an instance in a process of its own; resolves with it and a promise of its first processed record. */
    const startInstance = (): { child: ChildProcess; firstRecord: Promise<void>; exited: Promise<number | null> } => {
      const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist', 'test', 'fixtures', 'streams', 'zombie-process.js'), dir(), input, output], {
        env: { ...process.env, LOG_LEVEL: 'error' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(child);
      const lines = createInterface({ input: child.stdout! });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      // Its first record, or why it will not come: the process ended, or 60 s passed.
      const firstRecord = new Promise<void>((resolve, reject) => {
        lines.on('line', (line) => line === 'first-record' && resolve());
        void exited.then((code) => reject(new Error(`a streams instance exited (code ${code}) before it processed a record`)));
        setTimeout(() => reject(new Error('a streams instance processed no record within 60 s')), 60_000).unref();
      });
      firstRecord.catch(() => undefined);
      return { child, firstRecord, exited };
    };
    // Input keeps coming while the instances run: 3,000 records, 150 every 750 ms, record seq of key k carries
    // `k-seq`; the last quarter only once the paused instance is awake again, so it wakes to records still coming.
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    let wakeUp!: () => void;
    const awake = new Promise<void>((resolve) => (wakeUp = resolve));
    const feeding = (async () => {
      for (let seq = 0; seq < perKey; seq += 5) {
        if (seq === (perKey * 3) / 4) await awake;
        const messages = [];
        for (let s = seq; s < seq + 5; s++) for (let k = 0; k < keys; k++) messages.push({ key: `k${k}`, value: JSON.stringify({ n: s }), headers: { 'X-Correlation-Id': `k${k}-${s}` } });
        await producer.send({ topic: input, acks: -1, messages });
        await sleep(750);
      }
    })();
    feeding.catch(() => undefined);
    const admin = kafka.admin();
    await admin.connect();
    const started = Date.now();
    try {
      const first = startInstance();
      await first.firstRecord;
      const second = startInstance();
      await second.firstRecord;
      // The second instance holds its first records uncommitted: it sleeps past its session timeout, the first takes
      // its partitions over and commits them; then it wakes up, a zombie with a stale task.
      second.child.kill('SIGSTOP');
      await sleep(effectiveSessionTimeoutMs(6000) + 6000);
      second.child.kill('SIGCONT');
      wakeUp();
      await feeding;
      // Until every input offset is committed by the group.
      for (const deadline = Date.now() + 180_000; ; ) {
        const ends = await admin.fetchTopicOffsets(input);
        const [committed] = await retryTransient(() => admin.fetchOffsets({ groupId: applicationId, topics: [input] }), 30_000, () => undefined);
        const done = ends.every(({ partition, high }) => committed?.partitions.find((entry) => entry.partition === partition)?.offset === high);
        if (done) break;
        if (Date.now() > deadline) throw new Error('the group did not commit every input offset within 180 s');
        await sleep(500);
      }
      for (const instance of [first, second]) instance.child.kill('SIGTERM');
      await Promise.all([first.exited, second.exited]);
    } finally {
      wakeUp();
      await feeding.catch(() => undefined);
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await producer.disconnect();
      await admin.disconnect();
      for (const state of stateDirs) rmSync(state, { recursive: true, force: true });
    }
    // The output, read read_committed to its end: each key's counts 1..perKey in order, each from its own input.
    const outputs = await readToEnd(output, { brokers: cluster.brokers, timeoutMs: 60_000 });
    const updates = countsPerKey(outputs);
    const total = outputs.length;
    const duplicated = [...updates.values()].reduce((sum, list) => sum + Math.max(0, list.length - perKey), 0);
    console.log(`      ${process.env.SERVICE_TRANSPORT ?? 'kafkajs'}: instance paused past its session timeout: ${total} outputs for ${keys * perKey} inputs (${duplicated} beyond one per input), ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(updates.size).to.equal(keys);
    for (const [key, list] of updates) {
      expect(list.map(({ count }) => count), key).to.deep.equal(Array.from({ length: perKey }, (_, i) => i + 1));
      expect(list.map(({ correlationId }) => correlationId), key).to.deep.equal(Array.from({ length: perKey }, (_, i) => `${key}-${i}`));
    }
  });
});
