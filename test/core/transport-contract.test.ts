import { expect } from 'chai';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { LightError, LightService } from '../../index.js';
import { configDir, producerYml, serviceYml } from '../support/config-dir.js';
import type { MemoryTopics } from '../fixtures/memory-transport/memory-transport.js';

const FIXTURES = join(PACKAGE_ROOT, 'dist', 'test', 'fixtures', 'memory-transport');

/** A service whose handler.yml ends its produce chain with the in-memory transport (a module by path). No broker. */
async function memoryService(memoryTransportYml = '') {
  const topics: MemoryTopics = new Map();
  const dir = configDir({
    'handler.yml': `handlers:
  - correlation
  - ${join(FIXTURES, 'refuse.js')}@refuse
  - ${join(FIXTURES, 'memory-transport.js')}@memory
chains:
  produce: [correlation, refuse, memory]
defaultHandlers:
  produce: [produce]
`,
    'service.yml': serviceYml('memory-svc'),
    'kafka-producer.yml': producerYml(),
    'memory-transport.yml': memoryTransportYml,
  });
  const service = await LightService.create({ configDir: dir, services: { memoryTopics: topics }, env: { KAFKA_BROKERS: '127.0.0.1:1' } });
  return { service, topics };
}

describe('public transport contract: a custom produce transport from handler.yml', () => {
  it('receives each record after the chain, writes a send call in one batch through its own writer, and reports where records landed', async () => {
    const { service, topics } = await memoryService();
    const first = await service.producer.send('orders', { key: 'k1', value: { n: 1 } });
    const batch = await service.producer.send('orders', [{ key: 'k2', value: { n: 2 } }, { key: 'k3', value: { n: 3 } }]);

    const written = topics.get('orders')!;
    expect(written.map((message) => JSON.parse(message.value!.toString()).n)).to.deep.equal([1, 2, 3]);
    expect(written.map((message) => message.key!.toString())).to.deep.equal(['k1', 'k2', 'k3']);
    // The handlers before the transport ran: correlation wrote its headers.
    expect(written.every((message) => message.headers.get('caller_id') === 'memory-svc')).to.equal(true);
    expect(written.every((message) => message.headers.has('X-Correlation-Id'))).to.equal(true);
    expect(first).to.deep.include({ topic: 'orders', partition: 0, offset: '0' });
    expect(batch.map((metadata) => metadata.baseOffset)).to.deep.equal(['1', '1']);
  });

  it('writes nothing of a call in which one record fails its chain, and throws that record\'s error', async () => {
    const { service, topics } = await memoryService();
    const error = await service.producer
      .send('orders', [{ value: { n: 1 } }, { value: { refuse: true } }, { value: { n: 3 } }])
      .then(() => undefined, (e: unknown) => e);
    expect(error).to.be.instanceOf(LightError);
    expect((error as LightError).code).to.equal('ERR11000');
    expect(topics.get('orders')).to.equal(undefined);
  });

  it('a write that fails rejects every record of the call with ERR12000', async () => {
    const { service, topics } = await memoryService('failWrites: true\n');
    const error = await service.producer.send('orders', [{ value: { n: 1 } }, { value: { n: 2 } }]).then(() => undefined, (e: unknown) => e);
    expect((error as LightError).code).to.equal('ERR12000');
    expect(String(error)).to.contain('memory transport refuses writes');
    expect(topics.size).to.equal(0);
  });
});
