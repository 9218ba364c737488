import { expect } from 'chai';
import { loadLibrdkafkaClient } from '../../core/kafka/librdkafka-driver.js';
import { LightService } from '../../index.js';
import { brokerApiVersions } from '../support/api-versions.js';
import { resizeUnderLoad } from '../support/group-resize.js';
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
    const { lost, duplicates, seconds } = await resizeUnderLoad({
      topic,
      records: RECORDS,
      workMs: 2,
      leaving: 1,
      timeoutMs: 180_000,
      member: (index) =>
        LightService.create({
          configDir: configDir({
            'service.yml': serviceYml(`kip848-${index}`, 'stopTimeoutMs: 20000\n').replace(/transport: .*/, 'transport: librdkafka'),
            'kafka-consumer.yml': `properties:\n  bootstrap.servers: \${kafka.brokers}\n  group.id: ${groupId}\n  group.protocol: consumer\n  group.remote.assignor: uniform\n  auto.offset.reset: earliest\n  auto.commit.interval.ms: 500\nmaxRetries: 1\nretryDelayMs: 20\n`,
            'kafka-producer.yml': producerYml(),
          }),
        }),
    });
    console.log(`      group.protocol consumer, 2 -> 3 -> 2 members: ${lost.length} lost, ${duplicates} re-delivered of ${RECORDS}, ${seconds.toFixed(1)} s`);
    expect(lost, 'records never processed').to.deep.equal([]);
    expect(duplicates, 're-delivered records').to.be.at.most(RECORDS * 0.05);
  });
});
