import { expect } from 'chai';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { LightService, withRequestContext, type Exchange } from '../../index.js';
import { useBroker } from '../support/broker.js';
import { configDir, consumerYml, producerYml, serviceYml } from '../support/config-dir.js';
import { close, listen, startRecorder } from '../support/http.js';
import { createTopics, uniqueName, waitFor } from '../support/kafka.js';

function serviceConfig(serviceId: string, serviceYmlExtra: string): string {
  return configDir({
    'handler.yml': `handlers: [correlation, kafka/producer@producer]
chains:
  produce: [correlation, producer]
  consume: [correlation]
defaultHandlers:
  produce: [produce]
  consume: [consume]
`,
    'service.yml': serviceYml(serviceId, `stopTimeoutMs: 10000\n${serviceYmlExtra}`),
    'kafka-consumer.yml': consumerYml(uniqueName(serviceId)),
    'kafka-producer.yml': producerYml(),
  });
}

/**
 * service.yml `propagatedHeaders` names headers no handler owns; they travel HTTP -> Kafka -> HTTP like the
 * built-in ones: taken from the request by the server adapter, copied onto produced records, taken from the
 * consumed record into the unit of work, and added to downstream calls by service.fetch.
 */
describe('configurable propagated headers @broker', function () {
  this.timeout(120_000);
  const cleanup: (() => Promise<void>)[] = [];
  before(async () => {
    await useBroker();
  });
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  async function hop(extra: string): Promise<{ seenByC: IncomingHttpHeaders; record: Exchange }> {
    const topic = uniqueName('tenant-orders');
    await createTopics([topic, `${topic}.dlq`]);
    const recorderC = await startRecorder();
    cleanup.push(() => recorderC.stop());

    const serviceB = await LightService.create({ configDir: serviceConfig('service-b', extra) });
    const consumed: Exchange[] = [];
    serviceB.consumer.handle(topic, async (exchange) => {
      consumed.push(exchange);
      await serviceB.fetch(`${recorderC.url}/notify`, { method: 'POST' });
    });
    await serviceB.start();
    cleanup.push(() => serviceB.stop());

    const serviceA = await LightService.create({ configDir: serviceConfig('service-a', extra) });
    await serviceA.start();
    cleanup.push(() => serviceA.stop());
    const serverA: Server = createServer(
      withRequestContext(
        (_request, response) => {
          serviceA.producer.send(topic, { key: 'o-1', value: { order: 1 } }).then(
            () => response.end('sent'),
            (error: Error) => response.writeHead(500).end(error.message),
          );
        },
        { headers: serviceA.propagatedHeaders },
      ),
    );
    const urlA = await listen(serverA);
    cleanup.push(() => close(serverA));

    const response = await fetch(`${urlA}/orders`, { method: 'POST', headers: { 'X-Tenant-Id': 'tenant-7', 'X-Correlation-Id': 'corr-7' } });
    expect(response.status).to.equal(200);
    await waitFor(() => recorderC.seen.length === 1, 30_000, 'the call from B to C');
    return { seenByC: recorderC.seen[0]!, record: consumed[0]! };
  }

  it('a header named in service.yml propagatedHeaders reaches the record and the downstream HTTP call', async () => {
    const { seenByC, record } = await hop('propagatedHeaders: [X-Tenant-Id]\n');
    expect(record.headers.get('X-Tenant-Id')).to.equal('tenant-7');
    expect(seenByC['x-tenant-id']).to.equal('tenant-7');
    expect(seenByC['x-correlation-id']).to.equal('corr-7');
    expect(seenByC['caller_id']).to.equal('service-b');
  });

  it('without it the header stops at the first service, while the built-in ones still travel', async () => {
    const { seenByC, record } = await hop('');
    expect(record.headers.has('X-Tenant-Id')).to.equal(false);
    expect(seenByC['x-tenant-id']).to.equal(undefined);
    expect(seenByC['x-correlation-id']).to.equal('corr-7');
  });
});
