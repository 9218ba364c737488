import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadLibrdkafkaClient } from '../../core/kafka/librdkafka-driver.js';
import { LightService } from '../../index.js';
import { brokerApiVersions } from '../support/api-versions.js';
import { configDir, producerYml, serviceYml } from '../support/config-dir.js';
import { brokers, createTopics, produceRaw, uniqueName } from '../support/kafka.js';

const RECORDS = 6000;
const PARTITIONS = 6;
/**
 * ConsumerGroupHeartbeat, the consumer group protocol of KIP-848: Kafka 3.9 lists v0 (early access, off unless the
 * broker enables it); from Kafka 4.0 on the protocol is served, with v1.
 */
const CONSUMER_GROUP_HEARTBEAT = 68;

/**
 * kafka-consumer.yml group.protocol: consumer on librdkafka: the broker assigns partitions and moves them one by
 * one as members come and go. Needs a Kafka 4 broker (LIGHT_KAFKA_VERSION=4.4.0 with the local launcher).
 */
describe('LightConsumer on the consumer group protocol (KIP-848, librdkafka) @broker', function () {
  this.timeout(240_000);

  before(async function () {
    try {
      loadLibrdkafkaClient();
    } catch {
      console.log('      skipped: @confluentinc/kafka-javascript is not installed');
      this.skip();
    }
    if (((await brokerApiVersions(brokers()[0]!)).get(CONSUMER_GROUP_HEARTBEAT)?.max ?? -1) < 1) {
      console.log(`      skipped: the broker at ${brokers()[0]} does not serve the consumer group protocol (ConsumerGroupHeartbeat v1, api key 68): it needs Kafka 4 (LIGHT_KAFKA_VERSION=4.4.0)`);
      this.skip();
    }
  });

  it('members added and removed under load: no record lost, re-delivery bounded', async () => {
    const topic = uniqueName('kip848');
    const groupId = uniqueName('kip848-group');
    await createTopics([topic], PARTITIONS);
    for (let i = 0; i < RECORDS; i += 1000) await produceRaw(topic, Array.from({ length: 1000 }, (_, n) => ({ key: `k${(i + n) % 60}`, value: JSON.stringify({ seq: i + n }) })));
    const seen = new Map<number, number>();
    const instances: LightService[] = [];
    const add = async (): Promise<void> => {
      const service = await LightService.create({
        configDir: configDir({
          'service.yml': serviceYml(`kip848-${instances.length}`, 'stopTimeoutMs: 20000\n').replace(/transport: .*/, 'transport: librdkafka'),
          'kafka-consumer.yml': `properties:\n  bootstrap.servers: \${kafka.brokers}\n  group.id: ${groupId}\n  group.protocol: consumer\n  group.remote.assignor: uniform\n  auto.offset.reset: earliest\n  auto.commit.interval.ms: 500\nmaxRetries: 1\nretryDelayMs: 20\n`,
          'kafka-producer.yml': producerYml(),
        }),
      });
      service.consumer.handle(topic, async (exchange) => {
        const { seq } = exchange.value as { seq: number };
        seen.set(seq, (seen.get(seq) ?? 0) + 1);
        await sleep(2);
      });
      await service.start();
      instances.push(service);
    };
    const started = Date.now();
    try {
      await add();
      await add();
      while (seen.size < RECORDS / 4 && Date.now() - started < 120_000) await sleep(50);
      await add();
      while (seen.size < RECORDS / 2 && Date.now() - started < 120_000) await sleep(50);
      await instances.shift()!.stop();
      while (seen.size < RECORDS && Date.now() - started < 180_000) await sleep(100);
    } finally {
      for (const service of instances) await service.stop();
    }
    const lost = Array.from({ length: RECORDS }, (_, seq) => seq).filter((seq) => !seen.has(seq));
    const duplicates = [...seen.values()].reduce((sum, count) => sum + count - 1, 0);
    console.log(`      group.protocol consumer, 2 -> 3 -> 2 members: ${lost.length} lost, ${duplicates} re-delivered of ${RECORDS}, ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(lost, 'records never processed').to.deep.equal([]);
    expect(duplicates, 're-delivered records').to.be.at.most(RECORDS * 0.05);
  });
});
