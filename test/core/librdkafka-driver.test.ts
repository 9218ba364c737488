import { expect } from 'chai';
import { LightError } from '../../core/errors/light-error.js';
import { loadLibrdkafkaClient } from '../../core/kafka/librdkafka-driver.js';
import { LibrdkafkaStreamsClients } from '../../core/kafka/librdkafka-streams.js';
import { KafkajsStreamsClients } from '../../core/kafka/kafkajs-streams.js';
import { createLogger } from '../../core/logger.js';
import { LightService } from '../../index.js';
import { configDir, producerYml, serviceYml } from '../support/config-dir.js';

/**
 * The client is an optional dependency: `npm ci` skips it when it cannot be built (README: Kafka clients). Tests
 * that need it are skipped then, unless the run is on librdkafka (SERVICE_TRANSPORT=librdkafka, as .ci/run does).
 */
const clientInstalled = ((): boolean => {
  try {
    loadLibrdkafkaClient();
    return true;
  } catch {
    return false;
  }
})();

function needsClient(context: Mocha.Context): void {
  if (!clientInstalled && process.env.SERVICE_TRANSPORT !== 'librdkafka') context.skip();
}

describe('librdkafka transport without a broker', () => {
  it('loads the client npm ci built (librdkafka 2.x)', function () {
    needsClient(this);
    expect(loadLibrdkafkaClient().librdkafkaVersion).to.match(/^2\./);
  });

  it('a client that cannot be loaded is ERR12009, saying how to install it', () => {
    const error = (() => {
      try {
        loadLibrdkafkaClient('@confluentinc/kafka-javascript-not-installed');
        return undefined;
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).to.be.instanceOf(LightError);
    expect((error as LightError).code).to.equal('ERR12009');
    expect((error as LightError).message).to.contain('CKJS_LINKING=dynamic npm install @confluentinc/kafka-javascript');
  });

  it('service.yml transport picks the client; a name that is neither is a config error naming the key', async function () {
    needsClient(this);
    const files = (transport: string): string =>
      configDir({
        'service.yml': serviceYml('transport-choice').replace(/transport: .*/, `transport: ${transport}`),
        'kafka-producer.yml': producerYml(),
        'kafka-consumer.yml': 'properties:\n  bootstrap.servers: 127.0.0.1:1\n  group.id: g\n',
      });
    const env = { KAFKA_BROKERS: '127.0.0.1:1' };
    for (const transport of ['kafkajs', 'librdkafka'] as const) {
      const service = await LightService.create({ configDir: files(transport), env });
      expect(service.transport).to.equal(transport);
    }
    const error = await LightService.create({ configDir: files('rdkafka'), env }).then(() => undefined, (e: unknown) => e);
    expect((error as LightError).code).to.equal('ERR13001');
    expect((error as LightError).message).to.contain('transport');
  });

  it('LightStreams on librdkafka takes consumer.max.poll.records (its kafkajs tools leave it to librdkafka); on kafkajs it is ERR13011', async function () {
    needsClient(this);
    const options = {
      applicationId: 'max-poll',
      readCommitted: true,
      consumerProperties: { 'bootstrap.servers': '127.0.0.1:1', 'max.poll.records': 500 },
      producerProperties: { 'bootstrap.servers': '127.0.0.1:1' },
      file: 'kafka-streams.yml',
      processId: 'p',
      taskOf: (topic: string, partition: number) => `${topic}-${partition}`,
    };
    const logger = createLogger({ level: 'error' } as never);
    const clients = new LibrdkafkaStreamsClients(options, logger);
    await clients.disconnect();
    expect(() => new KafkajsStreamsClients(options, logger))
      .to.throw(LightError, /properties.max.poll.records is supported by the librdkafka transport only/)
      .with.property('code', 'ERR13011');
  });
});
