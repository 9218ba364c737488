import type { Message } from 'kafkajs';
import { defineHandler, type Handler } from '../../core/chain/handler.js';
import { LightError } from '../../core/errors/light-error.js';
import type { Exchange } from '../../core/exchange.js';
import { KAFKA_PRODUCER_SCHEMA, type KafkaProducerYml } from './config-schemas.js';
import { SEND_BATCH, type SendBatch } from './send-batch.js';
import { serialize } from './serde.js';

/**
 * The produce transport: the last handler of every produce chain. It serializes the record and hands it to
 * the send batch of the current LightProducer call, and returns once the broker acknowledged the batch, so
 * handlers before it (metrics, audit) see the real outcome.
 */
export default defineHandler<KafkaProducerYml>({
  name: 'kafka/producer',
  configName: 'kafka-producer',
  configSchema: KAFKA_PRODUCER_SCHEMA,
  transport: true,
  create(config) {
    return async function kafkaProducerTransport(exchange: Exchange): Promise<void> {
      const batch = exchange.attachments.get(SEND_BATCH) as SendBatch | undefined;
      if (!batch) throw new LightError('ERR10012', { component: 'LightProducer (the transport ran outside a send call)' });
      const message = toMessage(exchange, config);
      exchange.rawValue = message.value as Buffer | null;
      exchange.metadata = await batch.add(exchange, exchange.topic, message);
      exchange.partition = exchange.metadata.partition >= 0 ? exchange.metadata.partition : undefined;
      exchange.offset = exchange.metadata.offset;
    } satisfies Handler;
  },
});

function toMessage(exchange: Exchange, config: KafkaProducerYml): Message {
  const message: Message = {
    key: serialize(exchange.key, config.keyFormat, exchange.topic, 'key'),
    value: serialize(exchange.value, config.valueFormat, exchange.topic, 'value'),
    headers: exchange.headers.toKafka(),
  };
  if (exchange.partition !== undefined) message.partition = exchange.partition;
  if (exchange.timestamp !== undefined) message.timestamp = exchange.timestamp;
  return message;
}
