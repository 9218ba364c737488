import type { Logger } from '../logger.js';
import type { KafkaClientName, KafkaDriver } from './driver.js';
import { KafkajsDriver } from './kafkajs-driver.js';
import { LibrdkafkaDriver } from './librdkafka-driver.js';
import type { ConsumerSettings, ProducerSettings } from './properties.js';

/** The clients of a service on the Kafka client library that service.yml `transport` names. */
export function createKafkaDriver(client: KafkaClientName, producer: ProducerSettings, consumer: ConsumerSettings, logger: Logger): KafkaDriver {
  return client === 'librdkafka' ? new LibrdkafkaDriver(producer, consumer, logger) : new KafkajsDriver(producer, consumer, logger);
}
