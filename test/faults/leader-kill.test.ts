import { expect } from 'chai';
import { Kafka, logLevel } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';
import { LightError } from '../../core/errors/light-error.js';
import { LightService } from '../../index.js';
import type { KafkaHandle, LocalNode } from '../../scripts/kafka-local.js';
import { useCluster } from '../support/cluster.js';
import { configDir, serviceYml } from '../support/config-dir.js';
import { uniqueName } from '../support/kafka.js';

/**
 * The leader of a partition dies (SIGKILL) in the middle of a stream of awaited sends and comes back 10 s later,
 * on a local 3-broker cluster (replication factor 3, min.insync.replicas 2), with LightProducer's defaults
 * (idempotent, acks all). A resolved `send` is a promise: every one of its records is in the log exactly once.
 * A call may fail (loudly), never lose or duplicate silently. Rounds: LIGHT_KAFKA_FAULT_ROUNDS (default 3).
 */
const ROUNDS = Number(process.env.LIGHT_KAFKA_FAULT_ROUNDS ?? 3);
const RECORDS = 6_000;
const PER_CALL = 100;
const KEYS = 60;
const PARTITIONS = 3;

interface RoundResult {
  acknowledged: number[];
  failedCalls: { seqs: number[]; error: unknown }[];
}

describe('leader failover on a 3-broker cluster @cluster', function () {
  this.timeout(ROUNDS * 180_000 + 240_000);
  let cluster: KafkaHandle;

  before(async function () {
    this.timeout(300_000);
    // The run's shared cluster (test/support/cluster.ts): started by the suite runner, or here on first use.
    cluster = await useCluster();
  });


  for (let round = 1; round <= ROUNDS; round++) {
    it(`round ${round}: the leader of partition 0 is killed mid-stream; nothing acknowledged is lost or written twice`, async () => {
      const topic = uniqueName('failover');
      const admin = raw(cluster.brokers).admin();
      await admin.connect();
      try {
        await createTopic(admin, topic);
        const result = await sendThroughKill(topic, admin);
        const written = await readAll(topic, admin);

        const counts = new Map<number, number>();
        for (const record of written) counts.set(record.seq, (counts.get(record.seq) ?? 0) + 1);
        const lost = result.acknowledged.filter((seq) => !counts.has(seq));
        const duplicated = [...counts].filter(([, count]) => count > 1).map(([seq]) => seq);
        expect(lost, `acknowledged but missing (${lost.length})`).to.deep.equal([]);
        expect(duplicated, `written more than once (${duplicated.length})`).to.deep.equal([]);
        // A failed call is loud, and what it left in the log is each record at most once (checked above).
        for (const failed of result.failedCalls) {
          expect(failed.error).to.be.instanceOf(LightError);
          expect((failed.error as LightError).code).to.equal('ERR12000');
        }
        // Nothing was written that no call sent, and the records of each key stay in the order they were sent.
        expect(written.every((record) => record.seq >= 0 && record.seq < RECORDS)).to.equal(true);
        const lastPerKey = new Map<string, number>();
        for (const record of written) {
          expect(record.seq, `order of key ${record.key}`).to.be.greaterThan(lastPerKey.get(record.key) ?? -1);
          lastPerKey.set(record.key, record.seq);
        }
        expect(result.acknowledged.length + result.failedCalls.length * PER_CALL).to.equal(RECORDS);
        console.log(`      round ${round}: ${result.acknowledged.length} acknowledged, ${result.failedCalls.length} call(s) failed loudly, ${written.length} records in the log`);
      } finally {
        await admin.disconnect();
      }
    });
  }

  /** Creates the topic and waits until every broker's metadata names a leader for each partition. */
  async function createTopic(admin: ReturnType<Kafka['admin']>, topic: string): Promise<void> {
    // kafkajs's own waitForLeaders gives up on UNKNOWN_TOPIC_OR_PARTITION while the cluster spreads the metadata.
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 3 }], waitForLeaders: false });
    const deadline = Date.now() + 60_000;
    for (;;) {
      const led = await admin
        .fetchTopicMetadata({ topics: [topic] })
        .then(({ topics }) => topics[0]!.partitions.length === PARTITIONS && topics[0]!.partitions.every((partition) => partition.leader >= 0 && partition.isr.length === 3))
        .catch(() => false);
      if (led) return;
      if (Date.now() > deadline) throw new Error(`${topic} has no leader for every partition after 60 s`);
      await sleep(200);
    }
  }

  async function sendThroughKill(topic: string, admin: ReturnType<Kafka['admin']>): Promise<RoundResult> {
    const service = await LightService.create({
      configDir: configDir({
        'handler.yml': 'handlers: [kafka/producer@producer]\ndefaultHandlers:\n  produce: [producer]\n',
        'service.yml': serviceYml('failover-producer', 'stopTimeoutMs: 10000\n'),
        'kafka-producer.yml': `properties:\n  bootstrap.servers: ${cluster.brokers}\n  retries: 10\n  retry.backoff.max.ms: 2000\n`,
        'kafka-consumer.yml': `properties:\n  bootstrap.servers: ${cluster.brokers}\n  group.id: ${uniqueName('failover-unused')}\n`,
      }),
    });
    await service.start();
    const result: RoundResult = { acknowledged: [], failedCalls: [] };
    let restarting: Promise<void> | undefined;
    try {
      for (let first = 0; first < RECORDS; first += PER_CALL) {
        if (first === RECORDS / 3) restarting = killLeaderOfPartition0(topic, admin);
        const seqs = Array.from({ length: PER_CALL }, (_, i) => first + i);
        try {
          await service.producer.send(topic, seqs.map((seq) => ({ key: `key-${seq % KEYS}`, value: { seq } })));
          result.acknowledged.push(...seqs);
        } catch (error) {
          result.failedCalls.push({ seqs, error });
        }
      }
      await restarting;
    } finally {
      await service.stop();
    }
    return result;
  }

  async function killLeaderOfPartition0(topic: string, admin: ReturnType<Kafka['admin']>): Promise<void> {
    const [metadata] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
    const leaderId = metadata!.partitions.find((partition) => partition.partitionId === 0)!.leader;
    const leader: LocalNode = cluster.nodes.find((node) => node.nodeId === leaderId)!;
    await leader.kill('SIGKILL');
    await sleep(10_000);
    await leader.restart();
  }

  /** Every record of the topic, read to the high watermark of each partition. */
  async function readAll(topic: string, admin: ReturnType<Kafka['admin']>): Promise<{ seq: number; key: string }[]> {
    const ends = await admin.fetchTopicOffsets(topic);
    const remaining = new Map(ends.filter((end) => Number(end.high) > 0).map((end) => [end.partition, Number(end.high) - 1]));
    const consumer = raw(cluster.brokers).consumer({ groupId: uniqueName('failover-reader'), maxWaitTimeInMs: 100 });
    const records: { seq: number; key: string; partition: number; offset: number }[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      let done!: () => void;
      const finished = new Promise<void>((resolve) => (done = resolve));
      if (remaining.size === 0) done();
      await consumer.run({
        eachMessage: async ({ partition, message }) => {
          records.push({ seq: (JSON.parse(message.value!.toString()) as { seq: number }).seq, key: message.key!.toString(), partition, offset: Number(message.offset) });
          if (Number(message.offset) >= (remaining.get(partition) ?? Infinity)) remaining.delete(partition);
          if (remaining.size === 0) done();
        },
      });
      await Promise.race([finished, sleep(120_000).then(() => Promise.reject(new Error(`reading ${topic} to its end timed out`)))]);
    } finally {
      await consumer.disconnect();
    }
    return records.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  }
});

function raw(brokers: string): Kafka {
  return new Kafka({ brokers: brokers.split(','), clientId: 'failover-test', logLevel: logLevel.NOTHING });
}
