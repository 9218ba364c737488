import { expect } from 'chai';
import kafkajs, { Kafka, logLevel } from 'kafkajs';
import { DeadLetterHeaderNames as DLQ } from '../../core/headers.js';
import { LightService } from '../../index.js';
import { configDir, consumerYml, producerYml, serviceYml } from '../support/config-dir.js';
import { brokers, headerText, readToEnd, uniqueName, waitFor } from '../support/kafka.js';

const EIGHT_MIB = String(8 * 1024 * 1024);
const TWO_MIB = 2 * 1024 * 1024;

function kafka(): Kafka {
  return new Kafka({ brokers: brokers(), logLevel: logLevel.NOTHING });
}

async function createTopic(topic: string, maxMessageBytes?: string): Promise<void> {
  const admin = kafka().admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, configEntries: maxMessageBytes ? [{ name: 'max.message.bytes', value: maxMessageBytes }] : [] }] });
  await admin.disconnect();
}

async function maxMessageBytesOf(topic: string): Promise<string | undefined> {
  const admin = kafka().admin();
  await admin.connect();
  const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }] });
  await admin.disconnect();
  return described.resources[0]?.configEntries[0]?.configValue;
}

/** A 2 MiB record that is not JSON, then a valid one, on a topic that takes 8 MiB records. */
async function produceBigBadThenGood(topic: string): Promise<void> {
  const producer = kafka().producer({ idempotent: true });
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: [{ key: 'big', value: Buffer.alloc(TWO_MIB, 'x'), headers: { 'X-Correlation-Id': 'c-big' } }, { key: 'good', value: JSON.stringify({ ok: true }) }] });
  await producer.disconnect();
}

async function consumeUntilGood(topic: string): Promise<void> {
  const service = await LightService.create({
    configDir: configDir({ 'service.yml': serviceYml('dlq-limits'), 'kafka-consumer.yml': consumerYml(uniqueName('dlq-limits'), '', 0), 'kafka-producer.yml': producerYml() }),
  });
  const seen: string[] = [];
  service.consumer.handle(topic, (exchange) => void seen.push(exchange.keyString ?? ''));
  try {
    await service.start();
    await waitFor(() => seen.includes('good'), 60_000, 'the valid record behind the 2 MiB one');
  } finally {
    await service.stop();
  }
}

describe('dead letters that are large @broker', function () {
  this.timeout(120_000);

  it('creates the dead-letter topic with its source limits, so a 2 MiB record is dead-lettered whole, and the partition goes on', async () => {
    const topic = uniqueName('big-records');
    await createTopic(topic, EIGHT_MIB);
    await produceBigBadThenGood(topic);
    await consumeUntilGood(topic);
    expect(await maxMessageBytesOf(`${topic}.dlq`)).to.equal(EIGHT_MIB);
    const [deadLetter] = await readToEnd(`${topic}.dlq`, { readUncommitted: true });
    expect(deadLetter!.key).to.equal('big');
    expect(deadLetter!.value).to.have.length(TWO_MIB);
    expect(headerText(deadLetter!.headers, DLQ.errorCode)).to.equal('ERR11004');
  });

  it('writes a copy that fits when the dead-letter topic cannot take the record, pointing at the original, and the partition goes on', async () => {
    const topic = uniqueName('big-records-small-dlq');
    await createTopic(topic, EIGHT_MIB);
    await createTopic(`${topic}.dlq`); // the broker default: 1 MiB
    await produceBigBadThenGood(topic);
    await consumeUntilGood(topic);
    const [copy] = await readToEnd(`${topic}.dlq`, { readUncommitted: true });
    expect(headerText(copy!.headers, DLQ.truncated)).to.equal('true');
    expect(headerText(copy!.headers, DLQ.errorCode)).to.equal('ERR11004');
    expect(headerText(copy!.headers, DLQ.originalOffset)).to.equal('0');
    expect(headerText(copy!.headers, 'X-Correlation-Id')).to.equal('c-big');
    expect(copy!.value).to.include(`the original record is ${topic}-0@0`);
  });
});
