import { expect } from 'chai';
import { LightError } from '../../core/errors/light-error.js';
import type { Exchange } from '../../core/exchange.js';
import { currentContext, runWithContext } from '../../core/request-context.js';
import { LightService } from '../../index.js';
import { configDir, consumerYml, producerYml, serviceYml } from '../support/config-dir.js';
import { createTopics, headerText, produceRaw, readTopic, uniqueName, waitFor } from '../support/kafka.js';

const HANDLER_YML = `handlers: [correlation, validation/json-schema@validate, kafka/producer@producer]
defaultHandlers:
  produce: [correlation, producer]
  consume: [correlation, validate]
`;

function batchConfig(topic: string, groupId: string, extra = ''): string {
  return configDir({
    'handler.yml': HANDLER_YML,
    'service.yml': serviceYml('batch-service'),
    'kafka-consumer.yml': consumerYml(groupId, extra, 1),
    'kafka-producer.yml': producerYml(),
    'json-schema.yml': `topics:\n  ${topic}:\n    value: order.json\n`,
    'order.json': JSON.stringify({ type: 'object', required: ['n'], properties: { n: { type: 'integer' } } }),
  });
}

describe('a business handler taking whole batches @broker', function () {
  this.timeout(120_000);

  it('gets the records of a fetched batch at once; a record failing the chain, or failing in the handler, is dead-lettered alone', async () => {
    const topic = uniqueName('batch');
    await createTopics([topic, `${topic}.dlq`], 1);
    // In the log before the consumer starts, so they arrive in few batches.
    await produceRaw(topic, Array.from({ length: 200 }, (_, n) => ({ key: `k${n}`, value: JSON.stringify(n === 17 ? { n: 'bad' } : { n }), headers: { 'X-Correlation-Id': `c-${n}` } })));
    const service = await LightService.create({ configDir: batchConfig(topic, uniqueName('batch')) });
    const sizes: number[] = [];
    const processed: number[] = [];
    const out = `${topic}-out`;
    await createTopics([out], 1);
    service.consumer.handleBatch(topic, async (records: readonly Exchange[]) => {
      sizes.push(records.length);
      // Record 42 fails whenever it is handed over: in a batch, then alone.
      if (records.some((record) => (record.value as { n: number }).n === 42)) throw new Error('42 refused');
      for (const record of records) processed.push((record.value as { n: number }).n);
      // Producing on behalf of one record carries that record's correlation id.
      const first = records[0]!;
      await runWithContext(first.context!, async () => {
        expect(currentContext()!.headers.get('X-Correlation-Id')).to.equal(`c-${(first.value as { n: number }).n}`);
        await service.producer.send(out, { key: first.keyString, value: { first: (first.value as { n: number }).n } });
      });
    });
    try {
      await service.start();
      const dead = await readTopic(`${topic}.dlq`, { count: 2, timeoutMs: 60_000 });
      await waitFor(() => processed.length === 198, 60_000, '198 records processed');
      expect(dead.map((record) => [record.key, headerText(record.headers, 'x-dlq-error-code')])).to.have.deep.members([
        ['k17', 'ERR11000'],
        ['k42', 'ERR10010'],
      ]);
      expect(Math.max(...sizes), 'records per call').to.be.greaterThan(20);
      expect([...new Set(processed)].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 200 }, (_, n) => n).filter((n) => n !== 17 && n !== 42));
      const produced = await readTopic(out, { count: 1 });
      expect(headerText(produced[0]!.headers, 'X-Correlation-Id')).to.match(/^c-\d+$/);
    } finally {
      await service.stop();
    }
  });

  it('refuses handleBatch with ordering: key, naming the file and key', async () => {
    const topic = uniqueName('batch');
    const service = await LightService.create({ configDir: batchConfig(topic, uniqueName('batch'), 'ordering: key\n') });
    const error = (() => {
      try {
        service.consumer.handleBatch(topic, () => undefined);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).to.be.instanceOf(LightError);
    expect(String(error)).to.contain('kafka-consumer.yml').and.contain('ordering');
  });
});
