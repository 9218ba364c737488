import { expect } from 'chai';
import { checkKafkaVersion, DEFAULT_KAFKA_VERSION, isKafka4, log4j2Properties, newClusterId } from '../../scripts/kafka-local.js';

describe('local Kafka launcher', () => {
  it('makes cluster ids Kafka accepts: 16 bytes base64url, never starting with "-"', () => {
    for (let i = 0; i < 20_000; i++) {
      const id = newClusterId();
      expect(id).to.match(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
      expect(Buffer.from(id, 'base64url')).to.have.length(16);
    }
  });

  it('runs 4.4.0 by default and takes another 4.x release or 3.9.1, nothing else', () => {
    expect(DEFAULT_KAFKA_VERSION).to.equal('4.4.0');
    expect(checkKafkaVersion('3.9.1')).to.equal('3.9.1');
    expect(checkKafkaVersion('4.4.0')).to.equal('4.4.0');
    expect(checkKafkaVersion('4.1.1')).to.equal('4.1.1');
    for (const bad of ['3.8.0', '3.9.0', '5.0.0', '4.4', 'latest', '']) expect(() => checkKafkaVersion(bad)).to.throw(/3\.9\.1 or a 4\.x release/);
    expect(isKafka4('4.4.0')).to.equal(true);
    expect(isKafka4('3.9.1')).to.equal(false);
  });

  it('writes a log4j2 configuration for Kafka 4 that logs to the broker log file', () => {
    const text = log4j2Properties('C:\\kafka\\broker-9992-k4.4.0.log');
    expect(text).to.contain('appender.file.type=RollingFile');
    expect(text).to.contain('appender.file.fileName=C:/kafka/broker-9992-k4.4.0.log');
    expect(text).to.contain('rootLogger.appenderRef.file.ref=file');
    expect(text).not.to.match(/^log4j\./m);
  });
});
