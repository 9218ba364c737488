import { defineHandler, phasedHandler } from '../../core/chain/handler.js';
import type { ValueDecoder } from '../../core/exchange.js';
import { KAFKA_CONSUMER_SCHEMA, type KafkaConsumerYml } from '../../core/kafka/client-config.js';
import { deserialize } from '../../core/kafka/serde.js';

/**
 * The consume transport: the first handler of every consume chain (put there when handler.yml names none).
 * It decodes the key per kafka-consumer.yml keyFormat at once, and the value per valueFormat when it is first
 * read, at the latest before the business handler runs — so a handler that decodes the bytes itself
 * (validation/avro reads `rawValue` and sets `value`) takes its place in the chain and the format never applies.
 * A malformed record fails with ERR11004 / ERR11005 (not retried, dead-lettered) and never reaches the business
 * handler.
 */
export default defineHandler<KafkaConsumerYml>({
  name: 'kafka/consumer',
  configName: 'kafka-consumer',
  configSchema: KAFKA_CONSUMER_SCHEMA,
  transport: 'consume',
  create(config) {
    const { keyFormat, valueFormat } = config;
    // One decoder per topic, made once: a record costs no closure.
    const decoders = new Map<string, ValueDecoder>();
    const decoderOf = (topic: string): ValueDecoder => {
      let decoder = decoders.get(topic);
      if (!decoder) {
        decoder = (raw) => deserialize(raw, valueFormat, topic, 'value');
        decoders.set(topic, decoder);
      }
      return decoder;
    };
    return phasedHandler({
      name: 'kafkaConsumerTransport',
      before(exchange) {
        const { topic } = exchange;
        if (Buffer.isBuffer(exchange.key)) exchange.key = deserialize(exchange.key, keyFormat, topic, 'key') as string | Buffer | null;
        exchange.decodeValueWith(decoderOf(topic));
      },
    });
  },
});
