import type { Logger } from '../logger.js';
import type { KafkaClientName, KafkaDriver } from './driver.js';
import { Kafka } from 'kafkajs';
import type { DriverConsumer } from './driver.js';
import { KafkajsConsumer, KafkajsDriver, withLogging } from './kafkajs-driver.js';
import { LibrdkafkaDriver, loadLibrdkafkaClient } from './librdkafka-driver.js';
import { LibrdkafkaNativeConsumer } from './librdkafka-native-consumer.js';
import type { ConsumerSettings, ProducerSettings } from './properties.js';

/** The clients of a service on the Kafka client library that service.yml `transport` names. */
export function createKafkaDriver(client: KafkaClientName, producer: ProducerSettings, consumer: ConsumerSettings, logger: Logger): KafkaDriver {
  return client === 'librdkafka' ? new LibrdkafkaDriver(producer, consumer, logger) : new KafkajsDriver(producer, consumer, logger);
}

/** A consumer alone, in consumer group `groupId` (the other settings as the service's consumer): command replies read with it. */
export function createDriverConsumer(client: KafkaClientName, settings: ConsumerSettings, groupId: string, logger: Logger): DriverConsumer {
  const inGroup: ConsumerSettings = { ...settings, consumer: { ...settings.consumer, groupId }, librdkafka: { ...settings.librdkafka, 'group.id': groupId } };
  if (client === 'librdkafka') return new LibrdkafkaNativeConsumer(loadLibrdkafkaClient(), inGroup, logger);
  return new KafkajsConsumer(new Kafka(withLogging(inGroup.client, logger, 'consumer')), inGroup);
}
