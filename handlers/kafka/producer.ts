import { defineHandler, phasedHandler } from '../../core/chain/handler.js';
import { LightError } from '../../core/errors/light-error.js';
import type { Exchange } from '../../core/exchange.js';
import { KAFKA_PRODUCER_SCHEMA, type KafkaProducerYml } from '../../core/kafka/client-config.js';
import { serialize } from '../../core/kafka/serde.js';
import { SEND_CALL, type TransportMessage } from '../../core/transport.js';

/**
 * The produce transport: the last handler of every produce chain. It serializes the record per kafka-producer.yml
 * keyFormat / valueFormat and queues it in the send call of the current LightProducer or LightTransaction call;
 * the call writes its records in one request, and the handlers' afters (metrics, audit) see the real outcome.
 */
export default defineHandler<KafkaProducerYml>({
  name: 'kafka/producer',
  configName: 'kafka-producer',
  configSchema: KAFKA_PRODUCER_SCHEMA,
  transport: 'produce',
  create(config) {
    return phasedHandler({
      name: 'kafkaProducerTransport',
      before(exchange) {
        const call = exchange.attachments.get(SEND_CALL);
        if (!call) throw new LightError('ERR10012', { component: 'LightProducer (the transport ran outside a send call)' });
        const message = toMessage(exchange, config);
        exchange.rawValue = message.value;
        call.enqueue(exchange, message);
      },
    });
  },
});
function toMessage(exchange: Exchange, config: KafkaProducerYml): TransportMessage {
  const message: TransportMessage = {
    key: serialize(exchange.key, config.keyFormat, exchange.topic, 'key'),
    value: serialize(exchange.value, config.valueFormat, exchange.topic, 'value'),
    headers: exchange.headers,
  };
  if (exchange.partition !== undefined) message.partition = exchange.partition;
  if (exchange.timestamp !== undefined) message.timestamp = exchange.timestamp;
  return message;
}
