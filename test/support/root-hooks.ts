import { ensureKafka, type KafkaHandle } from '../../scripts/kafka-local.js';

// Quiet service logs in test output unless asked for.
process.env.LOG_LEVEL ??= 'error';
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

let kafka: KafkaHandle | undefined;

/** Every test run has a real broker: KAFKA_BROKERS, one already running, or one started here and stopped after. */
export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(600_000);
    kafka = await ensureKafka();
    process.env.KAFKA_BROKERS = kafka.brokers;
  },
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    if (kafka?.owned && !process.env.LIGHT_KAFKA_KEEP_BROKER) await kafka.stop();
  },
};
