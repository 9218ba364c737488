import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lightErrorOf } from '../support/errors.js';
import { toConsumerSettings, toProducerSettings } from '../../core/kafka/properties.js';

describe('Kafka properties -> kafkajs options', () => {
  it('maps the producer properties', () => {
    const settings = toProducerSettings(
      {
        'bootstrap.servers': 'a:9092, b:9092',
        'client.id': 'svc',
        acks: 'all',
        'transactional.id': 'tx-1',
        'transaction.timeout.ms': '30000',
        'compression.type': 'gzip',
        'delivery.timeout.ms': 5000,
      },
      'kafka-producer.yml',
    );
    expect(settings.client.brokers).to.deep.equal(['a:9092', 'b:9092']);
    expect(settings.client.clientId).to.equal('svc');
    expect(settings.acks).to.equal(-1);
    expect(settings.producer).to.deep.include({ idempotent: true, transactionalId: 'tx-1', transactionTimeout: 30000, maxInFlightRequests: 1 });
    expect(settings.compression).to.equal(1);
    expect(settings.timeoutMs).to.equal(5000);
  });

  it('maps the consumer properties', () => {
    const settings = toConsumerSettings(
      {
        'bootstrap.servers': 'a:9092',
        'group.id': 'g',
        'auto.offset.reset': 'latest',
        'isolation.level': 'read_uncommitted',
        'session.timeout.ms': 12000,
        'auto.commit.interval.ms': 1000,
      },
      'kafka-consumer.yml',
    );
    expect(settings.consumer).to.deep.include({ groupId: 'g', readUncommitted: true, sessionTimeout: 12000 });
    expect(settings.fromBeginning).to.equal(false);
    expect(settings.autoCommitInterval).to.equal(1000);
  });

  it('waits at most Kafka\'s default fetch.max.wait.ms (500) for a fetch, not kafkajs\'s 5000: a stop waits for the fetch in flight', () => {
    expect(toConsumerSettings({ 'bootstrap.servers': 'a:9092', 'group.id': 'g' }, 'kafka-consumer.yml').consumer.maxWaitTimeInMs).to.equal(500);
    expect(toConsumerSettings({ 'bootstrap.servers': 'a:9092', 'group.id': 'g', 'fetch.max.wait.ms': 2000 }, 'kafka-consumer.yml').consumer.maxWaitTimeInMs).to.equal(2000);
  });

  it('maps SASL from sasl.jaas.config and SSL files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lk-ssl-'));
    writeFileSync(join(dir, 'ca.pem'), 'CA-PEM');
    const settings = toConsumerSettings(
      {
        'bootstrap.servers': 'a:9093',
        'group.id': 'g',
        'security.protocol': 'SASL_SSL',
        'sasl.mechanism': 'SCRAM-SHA-512',
        'sasl.jaas.config': 'org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="s3cret";',
        'ssl.ca.location': join(dir, 'ca.pem'),
      },
      'kafka-consumer.yml',
    );
    expect(settings.client.sasl).to.deep.equal({ mechanism: 'scram-sha-512', username: 'alice', password: 's3cret' });
    expect((settings.client.ssl as { ca: Buffer }).ca.toString()).to.equal('CA-PEM');
  });

  it('refuses an unknown property, naming it and the file', () => {
    const error = lightErrorOf(() => toProducerSettings({ 'bootstrap.servers': 'a:1', 'linger.msec': 5 }, '/cfg/kafka-producer.yml'));
    expect(error.code).to.equal('ERR13011');
    expect(error.message).to.contain('/cfg/kafka-producer.yml').and.contain('linger.msec').and.contain('bootstrap.servers');
  });

  it('refuses bad values with the key', () => {
    expect(lightErrorOf(() => toConsumerSettings({ 'bootstrap.servers': 'a:1', 'group.id': 'g', 'session.timeout.ms': 'soon' }, 'f')).message).to.contain(
      'session.timeout.ms',
    );
    expect(lightErrorOf(() => toConsumerSettings({ 'bootstrap.servers': 'a:1', 'group.id': 'g', 'auto.offset.reset': 'none' }, 'f')).message).to.contain(
      'earliest, latest',
    );
    expect(lightErrorOf(() => toConsumerSettings({ 'bootstrap.servers': 'a:1' }, 'f')).message).to.contain('group.id');
    expect(lightErrorOf(() => toProducerSettings({}, 'f')).message).to.contain('bootstrap.servers');
    expect(lightErrorOf(() => toProducerSettings({ 'bootstrap.servers': 'a:1', acks: 1 }, 'f')).message).to.contain('enable.idempotence');
    expect(lightErrorOf(() => toConsumerSettings({ 'bootstrap.servers': 'a:1', 'group.id': 'g', 'enable.auto.commit': true }, 'f')).message).to.contain(
      'enable.auto.commit',
    );
    expect(lightErrorOf(() => toConsumerSettings({ 'bootstrap.servers': 'a:1', 'group.id': 'g', 'security.protocol': 'SASL_PLAINTEXT' }, 'f')).message).to.contain(
      'sasl',
    );
  });
});

describe('Kafka properties -> librdkafka configuration', () => {
  it('maps the producer properties to librdkafka names, with idempotence and acks all by default', () => {
    const settings = toProducerSettings(
      {
        'bootstrap.servers': 'a:9092, b:9092',
        'client.id': 'svc',
        'transactional.id': 'tx-1',
        'request.timeout.ms': 20000,
        'delivery.timeout.ms': '5000',
        'compression.type': 'zstd',
        'linger.ms': 2,
        'ssl.endpoint.identification.algorithm': '',
        'security.protocol': 'SASL_SSL',
        'sasl.mechanism': 'PLAIN',
        'sasl.jaas.config': 'org.apache.kafka.common.security.plain.PlainLoginModule required username="bob" password="pw";',
      },
      'kafka-producer.yml',
      'librdkafka',
    );
    expect(settings.librdkafka).to.deep.equal({
      'enable.idempotence': true,
      acks: -1,
      'linger.ms': 2,
      // No client-side cap below the broker's (kafkajs has none).
      'message.max.bytes': 104857600,
      'bootstrap.servers': 'a:9092,b:9092',
      'client.id': 'svc',
      'transactional.id': 'tx-1',
      'request.timeout.ms': 20000,
      'delivery.timeout.ms': 5000,
      'compression.type': 'zstd',
      'ssl.endpoint.identification.algorithm': 'none',
      'security.protocol': 'sasl_ssl',
      'sasl.mechanism': 'PLAIN',
      'sasl.username': 'bob',
      'sasl.password': 'pw',
    });
    // librdkafka keeps sequence numbers with up to 5 requests in flight; only kafkajs is held to one.
    expect(settings.producer.maxInFlightRequests).to.equal(undefined);
  });

  it('shortens the socket timeout to a transaction timeout below librdkafka\'s 60 s socket default (librdkafka refuses the producer otherwise)', () => {
    const native = (properties: Record<string, unknown>): Record<string, unknown> =>
      toProducerSettings({ 'bootstrap.servers': 'a:9092', 'transactional.id': 'tx-1', ...properties }, 'kafka-producer.yml', 'librdkafka').librdkafka;
    expect(native({ 'transaction.timeout.ms': 10000 })).to.include({ 'transaction.timeout.ms': 10000, 'socket.timeout.ms': 10000 });
    expect(native({ 'transaction.timeout.ms': 90000 })).to.not.have.property('socket.timeout.ms');
    expect(native({})).to.not.have.property('socket.timeout.ms');
  });

  it('maps the consumer properties, renaming the few librdkafka names differently', () => {
    const settings = toConsumerSettings(
      {
        'bootstrap.servers': 'a:9092',
        'group.id': 'g',
        'request.timeout.ms': 15000,
        'rebalance.timeout.ms': 60000,
        'fetch.max.wait.ms': 100,
        'max.poll.records': 500,
        'retries': 3,
      },
      'kafka-consumer.yml',
      'librdkafka',
    );
    expect(settings.librdkafka).to.deep.equal({
      'auto.offset.reset': 'earliest',
      'isolation.level': 'read_committed',
      'js.consumer.max.batch.size': 500,
      'bootstrap.servers': 'a:9092',
      'group.id': 'g',
      'socket.timeout.ms': 15000,
      'max.poll.interval.ms': 60000,
      'fetch.wait.max.ms': 100,
    });
  });

  it('refuses a property only librdkafka has when the service runs on kafkajs, naming the transport to choose', () => {
    for (const [key, value] of [['linger.ms', 5], ['compression.type', 'lz4']] as const) {
      const error = lightErrorOf(() => toProducerSettings({ 'bootstrap.servers': 'a:1', [key]: value }, 'kafka-producer.yml', 'kafkajs'));
      expect(error.code).to.equal('ERR13011');
      expect(error.message).to.contain(key).and.contain('transport: librdkafka');
    }
    const error = lightErrorOf(() => toConsumerSettings({ 'bootstrap.servers': 'a:1', 'group.id': 'g', 'max.poll.records': 100 }, 'kafka-consumer.yml'));
    expect(error.message).to.contain('max.poll.records').and.contain('transport: librdkafka');
  });

  it('group.protocol consumer (KIP-848) is for librdkafka, without the properties the broker sets; group.remote.assignor goes with it', () => {
    const consumer = (properties: Record<string, unknown>, client: 'kafkajs' | 'librdkafka' = 'librdkafka') =>
      toConsumerSettings({ 'bootstrap.servers': 'a:1', 'group.id': 'g', ...properties }, 'kafka-consumer.yml', client);
    expect(consumer({ 'group.protocol': 'consumer', 'group.remote.assignor': 'range' }).librdkafka).to.include({ 'group.protocol': 'consumer', 'group.remote.assignor': 'range' });
    const onKafkajs = lightErrorOf(() => consumer({ 'group.protocol': 'consumer' }, 'kafkajs'));
    expect(onKafkajs.code).to.equal('ERR13011');
    expect(onKafkajs.message).to.contain('kafka-consumer.yml').and.contain('group.protocol').and.contain('transport: librdkafka');
    expect(consumer({ 'group.protocol': 'classic' }, 'kafkajs').consumer.groupId).to.equal('g');
    for (const [key, value] of [['session.timeout.ms', 10000], ['heartbeat.interval.ms', 1000], ['partition.assignment.strategy', 'range']] as const) {
      const error = lightErrorOf(() => consumer({ 'group.protocol': 'consumer', [key]: value }));
      expect(error.code).to.equal('ERR13011');
      expect(error.message).to.contain('kafka-consumer.yml').and.contain(key).and.contain('group.protocol: consumer');
    }
    expect(lightErrorOf(() => consumer({ 'group.remote.assignor': 'uniform' })).message).to.contain('group.remote.assignor').and.contain('needs group.protocol: consumer');
  });

  it('partition.assignment.strategy takes librdkafka\'s names or the Java classes, on librdkafka only', () => {
    const consumer = (value: string, client: 'kafkajs' | 'librdkafka' = 'librdkafka') =>
      toConsumerSettings({ 'bootstrap.servers': 'a:1', 'group.id': 'g', 'partition.assignment.strategy': value }, 'kafka-consumer.yml', client);
    expect(consumer('org.apache.kafka.clients.consumer.RangeAssignor, roundrobin').librdkafka['partition.assignment.strategy']).to.equal('range,roundrobin');
    expect(consumer('cooperative-sticky').librdkafka['partition.assignment.strategy']).to.equal('cooperative-sticky');
    expect(lightErrorOf(() => consumer('sticky')).message).to.contain('names sticky');
    expect(lightErrorOf(() => consumer('cooperative-sticky,range')).message).to.contain('cannot mix');
    expect(lightErrorOf(() => consumer('range', 'kafkajs')).message).to.contain('partition.assignment.strategy').and.contain('transport: librdkafka');
  });
});
