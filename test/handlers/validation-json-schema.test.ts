import { expect } from 'chai';
import { LightError } from '../../core/errors/light-error.js';
import { DeadLetterHeaderNames as DLQ } from '../../core/headers.js';
import { LightService } from '../../index.js';
import type { Exchange } from '../../core/exchange.js';
import { configDir, consumerYml, producerYml } from '../support/config-dir.js';
import { createTopics, headerText, produceRaw, readTopic, readToEnd, uniqueName, waitFor } from '../support/kafka.js';

const ORDER_SCHEMA_2020 = JSON.stringify({
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['id', 'quantity'],
  properties: { id: { type: 'string' }, quantity: { type: 'integer', minimum: 1 }, email: { type: 'string', format: 'email' } },
});
const KEY_SCHEMA_07 = JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'string', pattern: '^order-' });

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

describe('validation/json-schema handler @broker', function () {
  this.timeout(120_000);

  afterEach(async () => {
    await Promise.all(running.splice(0).map((service) => service.stop()));
  });

  describe('JSON Schema', () => {
    const jsonFiles = (topic: string, group: string): Record<string, string> => ({
      'handler.yml': 'handlers: [validation/json-schema@json, kafka/producer@producer]\ndefaultHandlers:\n  produce: [json, producer]\n  consume: [json]\n',
      'json-schema.yml': `topics:\n  ${topic}:\n    value: schemas/order.json\n    key: schemas/order-key.json\n`,
      'schemas/order.json': ORDER_SCHEMA_2020,
      'schemas/order-key.json': KEY_SCHEMA_07,
      'kafka-consumer.yml': consumerYml(group),
      'kafka-producer.yml': producerYml(),
    });

    it('produce: a valid record is sent; an invalid one raises ERR11000 and nothing of its batch is sent', async () => {
      const topic = uniqueName('json');
      await createTopics([topic]);
      const { service } = await start(jsonFiles(topic, uniqueName('json')));
      await service.producer.send(topic, { key: 'order-1', value: { id: 'o1', quantity: 2, email: 'a@example.com' } });
      const invalid = await failureOf(service.producer.send(topic, [{ key: 'order-2', value: { id: 'o2', quantity: 1 } }, { key: 'order-3', value: { id: 'o3', quantity: 0 } }]));
      expect(invalid.code).to.equal('ERR11000');
      expect(invalid.args).to.include({ instancePath: '/quantity', keyword: 'minimum' });
      const badFormat = await failureOf(service.producer.send(topic, { key: 'order-4', value: { id: 'o4', quantity: 1, email: 'not-an-email' } }));
      expect(badFormat.args).to.include({ instancePath: '/email', keyword: 'format' });
      const badKey = await failureOf(service.producer.send(topic, { key: 'invoice-1', value: { id: 'o5', quantity: 1 } }));
      expect(badKey.code).to.equal('ERR11001');
      const records = await readToEnd(topic);
      expect(records.map((record) => record.key)).to.deep.equal(['order-1']);
    });

    it('consume: invalid, malformed and wrongly keyed records go to the DLQ with their codes; valid ones reach the handler', async () => {
      const topic = uniqueName('json');
      await createTopics([topic, `${topic}.dlq`]);
      const { seen } = await start(jsonFiles(topic, uniqueName('json')), topic);
      await produceRaw(topic, [
        { key: 'order-1', value: JSON.stringify({ id: 'o1', quantity: 1 }) },
        { key: 'order-2', value: JSON.stringify({ id: 'o2', quantity: 0 }) },
        { key: 'order-3', value: '{"id": "o3", quantity' },
        { key: 'order-4', value: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) },
        { key: 'invoice-5', value: JSON.stringify({ id: 'o5', quantity: 1 }) },
        { key: 'order-6', value: JSON.stringify({ id: 'o6', quantity: 6 }) },
      ]);
      const dead = await readTopic(`${topic}.dlq`, { count: 4 });
      await waitFor(() => seen.length === 2, 20_000, 'the two valid records');
      expect(seen.map((exchange) => exchange.keyString)).to.deep.equal(['order-1', 'order-6']);
      const byKey = Object.fromEntries(dead.map((record) => [record.key, record]));
      expect(headerText(byKey['order-2']!.headers, DLQ.errorCode)).to.equal('ERR11000');
      expect(headerText(byKey['order-2']!.headers, DLQ.errorPath)).to.equal('/quantity');
      expect(headerText(byKey['order-2']!.headers, DLQ.errorKeyword)).to.equal('minimum');
      expect(headerText(byKey['order-3']!.headers, DLQ.errorCode)).to.equal('ERR11004');
      expect(headerText(byKey['order-4']!.headers, DLQ.errorCode)).to.equal('ERR11005');
      expect(headerText(byKey['invoice-5']!.headers, DLQ.errorCode)).to.equal('ERR11001');
      for (const record of dead) expect(headerText(record.headers, DLQ.attempts)).to.equal('1');
    });

    it('a schema that does not compile is a startup error naming its file', async () => {
      const files = jsonFiles('t', 'g');
      files['schemas/order.json'] = JSON.stringify({ type: 'object', properties: { id: { type: 'no-such-type' } } });
      const error = await LightService.create({ configDir: configDir(files) }).then(() => undefined, (e: unknown) => e);
      expect(String(error)).to.contain('ERR13001').and.contain('schemas/order.json').and.contain('not a usable JSON Schema');
    });
  });
});
