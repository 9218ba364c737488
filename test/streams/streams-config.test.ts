import { expect } from 'chai';
import { LightError } from '../../core/errors/light-error.js';
import { toStreamsSettings, type KafkaStreamsYml } from '../../core/streams/streams-config.js';

const yml = (properties: Record<string, unknown>): KafkaStreamsYml => ({ properties, storeType: 'persistent', restoreLogEveryRecords: 10000, restoreTimeoutMs: 60000 });

describe('kafka-streams.yml settings', () => {
  it("takes Kafka Streams' defaults: the serviceId as application.id, exactly_once, 100 ms commits (30 s at_least_once)", () => {
    const settings = toStreamsSettings(yml({ 'bootstrap.servers': 'b:9092' }), 'kafka-streams.yml', 'com.example/orders service');
    expect(settings.applicationId).to.equal('com.example-orders-service');
    expect(settings.processingGuarantee).to.equal('exactly_once');
    expect(settings.commitIntervalMs).to.equal(100);
    expect(toStreamsSettings(yml({ 'processing.guarantee': 'at_least_once' }), 'f', 'svc').commitIntervalMs).to.equal(30000);
  });

  it('hands shared properties to both clients and consumer./producer. ones to one, without the prefix', () => {
    const settings = toStreamsSettings(yml({ 'bootstrap.servers': 'b:9092', 'consumer.session.timeout.ms': 10000, 'producer.linger.ms': 5, 'application.server': 'h:8080' }), 'f', 'svc');
    expect(settings.consumerProperties).to.deep.equal({ 'bootstrap.servers': 'b:9092', 'session.timeout.ms': 10000 });
    expect(settings.producerProperties).to.deep.equal({ 'bootstrap.servers': 'b:9092', 'linger.ms': 5, 'transaction.timeout.ms': 10000 });
    expect(settings.applicationServer).to.equal('h:8080');
  });

  it("under exactly_once the producers' transaction.timeout.ms defaults to 10 s (Kafka Streams') on kafkajs and 30 s on librdkafka, unless set", () => {
    expect(toStreamsSettings(yml({}), 'f', 'svc').producerProperties['transaction.timeout.ms']).to.equal(10000);
    expect(toStreamsSettings(yml({ 'producer.transaction.timeout.ms': 30000 }), 'f', 'svc').producerProperties['transaction.timeout.ms']).to.equal(30000);
    expect(toStreamsSettings(yml({ 'transaction.timeout.ms': 20000 }), 'f', 'svc').producerProperties['transaction.timeout.ms']).to.equal(20000);
    expect(toStreamsSettings(yml({ 'processing.guarantee': 'at_least_once' }), 'f', 'svc').producerProperties).to.not.have.property('transaction.timeout.ms');
    // On librdkafka 30 s: its request timeout cannot be longer than the transaction timeout.
    expect(toStreamsSettings(yml({}), 'f', 'svc', 'librdkafka').producerProperties['transaction.timeout.ms']).to.equal(30000);
    expect(toStreamsSettings(yml({ 'transaction.timeout.ms': 20000 }), 'f', 'svc', 'librdkafka').producerProperties['transaction.timeout.ms']).to.equal(20000);
  });

  it('refuses a bad guarantee, commit interval, application.id or application.server, naming the file and key', () => {
    const refused = (properties: Record<string, unknown>, key: string): void => {
      expect(() => toStreamsSettings(yml(properties), 'conf/kafka-streams.yml', 'svc'))
        .to.throw(LightError)
        .with.property('message')
        .that.includes('conf/kafka-streams.yml')
        .and.includes(key);
    };
    refused({ 'processing.guarantee': 'exactly_twice' }, 'properties.processing.guarantee');
    refused({ 'commit.interval.ms': 0 }, 'properties.commit.interval.ms');
    refused({ 'application.id': 'has space' }, 'properties.application.id');
    refused({ 'application.server': 'no-port' }, 'properties.application.server');
    refused({ 'num.standby.replicas': -1 }, 'properties.num.standby.replicas');
    refused({ 'num.standby.replicas': 'one' }, 'properties.num.standby.replicas');
  });

  it('takes group.protocol consumer (KIP-848) with the range assignor and no standby replicas, naming the key it refuses', () => {
    const settings = toStreamsSettings(yml({ 'consumer.group.protocol': 'consumer' }), 'f', 'svc');
    expect(settings.consumerProperties['group.protocol']).to.equal('consumer');
    expect(toStreamsSettings(yml({ 'group.protocol': 'consumer', 'consumer.group.remote.assignor': 'range' }), 'f', 'svc').numStandbyReplicas).to.equal(0);
    const refused = (properties: Record<string, unknown>, key: string): void => {
      expect(() => toStreamsSettings(yml(properties), 'conf/kafka-streams.yml', 'svc')).to.throw(LightError).with.property('message').that.includes(key).and.includes('group.protocol consumer');
    };
    refused({ 'consumer.group.protocol': 'consumer', 'consumer.group.remote.assignor': 'uniform' }, 'properties.group.remote.assignor');
    refused({ 'consumer.group.protocol': 'consumer', 'num.standby.replicas': 1 }, 'properties.num.standby.replicas');
    expect(toStreamsSettings(yml({ 'consumer.group.protocol': 'classic', 'num.standby.replicas': 1 }), 'f', 'svc').numStandbyReplicas).to.equal(1);
  });

  it('reads num.standby.replicas (default 0) and keeps it from the Kafka clients', () => {
    expect(toStreamsSettings(yml({}), 'f', 'svc').numStandbyReplicas).to.equal(0);
    const settings = toStreamsSettings(yml({ 'num.standby.replicas': 1 }), 'f', 'svc');
    expect(settings.numStandbyReplicas).to.equal(1);
    expect(settings.consumerProperties).to.not.have.property('num.standby.replicas');
    expect(settings.producerProperties).to.not.have.property('num.standby.replicas');
  });
});
