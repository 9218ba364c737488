import { expect } from 'chai';
import { LightError } from '../../core/errors/light-error.js';
import { DeadLetterHeaderNames as DLQ } from '../../core/headers.js';
import { LightService } from '../../index.js';
import type { Exchange } from '../../core/exchange.js';
import { configDir, consumerYml, producerYml } from '../support/config-dir.js';
import { TestSchemaRegistry } from '../support/schema-registry-server.js';
import { createTopics, headerText, produceRaw, readTopic, readToEnd, uniqueName, waitFor } from '../support/kafka.js';

const ORDER_V1 = JSON.stringify({ type: 'record', name: 'Order', namespace: 'demo', fields: [{ name: 'id', type: 'string' }, { name: 'quantity', type: 'int' }] });
const ORDER_V2 = JSON.stringify({
  type: 'record',
  name: 'Order',
  namespace: 'demo',
  fields: [{ name: 'id', type: 'string' }, { name: 'quantity', type: 'int' }, { name: 'note', type: 'string', default: '' }],
});
// Not backward compatible with v1/v2: a new field without a default.
const ORDER_V3 = JSON.stringify({
  type: 'record',
  name: 'Order',
  namespace: 'demo',
  fields: [{ name: 'id', type: 'string' }, { name: 'quantity', type: 'int' }, { name: 'warehouse', type: 'string' }],
});

const running: LightService[] = [];

async function start(files: Record<string, string>, topic?: string): Promise<{ service: LightService; seen: Exchange[] }> {
  const service = await LightService.create({ configDir: configDir(files) });
  running.push(service);
  const seen: Exchange[] = [];
  if (topic) service.consumer.handle(topic, (exchange) => void seen.push(exchange));
  await service.start();
  return { service, seen };
}

async function failureOf(work: Promise<unknown>): Promise<LightError> {
  const error = await work.then(() => undefined, (e: unknown) => e);
  expect(error, 'expected a LightError').to.be.instanceOf(LightError);
  return error as LightError;
}

describe('validation/avro handler @broker', function () {
  this.timeout(120_000);

  afterEach(async () => {
    await Promise.all(running.splice(0).map((service) => service.stop()));
  });

  describe('Avro with a schema registry', () => {
    let registry: TestSchemaRegistry;
    const credentials = { username: 'svc', password: 'registry-secret' };

    before(async () => {
      registry = await TestSchemaRegistry.start({ credentials });
    });
    after(async () => {
      await registry.stop();
    });

    function avroFiles(topic: string, schema: string, options: { autoRegister?: boolean; url?: string } = {}): Record<string, string> {
      return {
        'handler.yml': 'handlers: [validation/avro@avro, kafka/producer@producer]\ndefaultHandlers:\n  produce: [avro, producer]\n  consume: [avro]\n',
        'avro.yml': `autoRegister: ${options.autoRegister ?? true}\ntopics:\n  ${topic}:\n    value: schemas/order.avsc\n`,
        'schemas/order.avsc': schema,
        'schema-registry.yml': `url: ${options.url ?? registry.url}\nusername: ${credentials.username}\npassword: ${credentials.password}\ntimeoutMs: 2000\nretries: 0\n`,
        'kafka-consumer.yml': consumerYml(uniqueName('avro')),
        'kafka-producer.yml': producerYml(),
      };
    }

    it('a v1 reader consumes records a producer wrote with a backward-compatible v2', async () => {
      const topic = uniqueName('avro');
      await createTopics([topic, `${topic}.dlq`]);
      const producer = await start(avroFiles(topic, ORDER_V2));
      await producer.service.producer.send(topic, [{ value: { id: 'o1', quantity: 3, note: 'gift' } }, { value: { id: 'o2', quantity: 1, note: '' } }]);
      const [wire] = await readTopic(topic, { count: 1 });
      expect(Buffer.from(wire!.value!, 'latin1')[0]).to.equal(0);

      const consumer = await start(avroFiles(topic, ORDER_V1), topic);
      await waitFor(() => consumer.seen.length === 2, 30_000, 'two records');
      expect(consumer.seen.map((exchange) => ({ ...(exchange.value as object) }))).to.deep.equal([
        { id: 'o1', quantity: 3 },
        { id: 'o2', quantity: 1 },
      ]);
      // The writer schema was registered under the TopicNameStrategy subject.
      const versions = await fetch(`${registry.url}/subjects/${topic}-value/versions`, { headers: { authorization: `Basic ${Buffer.from('svc:registry-secret').toString('base64')}` } });
      expect(await versions.json()).to.deep.equal([1]);
    });

    it('with autoRegister off the schema must already exist; an incompatible schema is refused by the registry', async () => {
      const topic = uniqueName('avro');
      await createTopics([topic]);
      const strict = await start(avroFiles(topic, ORDER_V1, { autoRegister: false }));
      const missing = await failureOf(strict.service.producer.send(topic, { value: { id: 'o1', quantity: 1 } }));
      expect(missing.code).to.equal('ERR11016');
      expect(missing.message).to.contain(`${topic}-value`);

      const registering = await start(avroFiles(topic, ORDER_V1));
      await registering.service.producer.send(topic, { value: { id: 'o1', quantity: 1 } });
      await strict.service.producer.send(topic, { value: { id: 'o2', quantity: 2 } });

      const incompatible = await start(avroFiles(topic, ORDER_V3));
      const refused = await failureOf(incompatible.service.producer.send(topic, { value: { id: 'o3', quantity: 3, warehouse: 'w1' } }));
      expect(refused.code).to.equal('ERR11015');
      expect(refused.message).to.contain('incompatible').and.contain(`${topic}-value`).and.contain('order.avsc');

      const invalid = await failureOf(registering.service.producer.send(topic, { value: { id: 'o4', quantity: 'many' } }));
      expect(invalid.code).to.equal('ERR11010');
      expect(invalid.message).to.contain('quantity');
      expect((await readToEnd(topic)).length).to.equal(2);
    });

    it('bad input on consume: wrong magic byte, unknown schema id, corrupt payload go to the DLQ with their codes', async () => {
      const topic = uniqueName('avro');
      await createTopics([topic, `${topic}.dlq`]);
      const producer = await start(avroFiles(topic, ORDER_V1));
      await producer.service.producer.send(topic, { value: { id: 'good-1', quantity: 1 } });
      const [first] = await readTopic(topic, { count: 1 });
      const good = Buffer.from(first!.value!, 'latin1');
      const unknownId = Buffer.from(good);
      unknownId.writeInt32BE(987654, 1);
      await produceRaw(topic, [
        { key: 'magic', value: '{"id":"json, not avro"}' },
        { key: 'unknown-id', value: unknownId },
        { key: 'truncated', value: good.subarray(0, 7) },
      ]);
      await producer.service.producer.send(topic, { key: 'last', value: { id: 'good-2', quantity: 2 } });

      const consumer = await start(avroFiles(topic, ORDER_V1), topic);
      const dead = await readTopic(`${topic}.dlq`, { count: 3 });
      await waitFor(() => consumer.seen.length === 2, 30_000, 'the good records');
      expect(consumer.seen.map((exchange) => (exchange.value as { id: string }).id)).to.deep.equal(['good-1', 'good-2']);
      expect(Object.fromEntries(dead.map((record) => [record.key, headerText(record.headers, DLQ.errorCode)]))).to.deep.equal({
        magic: 'ERR11011',
        'unknown-id': 'ERR11012',
        truncated: 'ERR11014',
      });
      for (const record of dead) expect(headerText(record.headers, DLQ.attempts)).to.equal('1');
    });

    it('an unreachable registry is retried with backoff before the record is dead-lettered', async () => {
      const topic = uniqueName('avro');
      await createTopics([topic, `${topic}.dlq`]);
      const producer = await start(avroFiles(topic, ORDER_V1));
      await producer.service.producer.send(topic, { value: { id: 'o1', quantity: 1 } });
      const closed = await TestSchemaRegistry.start();
      const closedUrl = closed.url;
      await closed.stop();
      const consumer = await start(avroFiles(topic, ORDER_V1, { url: closedUrl }), topic);
      const [dead] = await readTopic(`${topic}.dlq`, { count: 1 });
      expect(headerText(dead!.headers, DLQ.errorCode)).to.equal('ERR11013');
      expect(headerText(dead!.headers, DLQ.attempts)).to.equal('3');
      expect(consumer.seen).to.have.length(0);
    });
  });
});
