import { expect } from 'chai';
import express from 'express';
import { readFileSync, existsSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import { expressRequestContext, withRequestContext } from '../../core/http/server-context.js';
import { LightService } from '../../index.js';
import type { Exchange } from '../../core/exchange.js';
import { configDir, consumerYml, producerYml, serviceYml } from '../support/config-dir.js';
import { close, listen } from '../support/http.js';
import { AUDIENCE, ISSUER, JwksServer, makeKey, signToken } from '../support/jwt.js';
import { createTopics, readTopic, uniqueName, waitFor } from '../support/kafka.js';

const HANDLER_YML = `handlers: [correlation, security, metrics, audit, kafka/producer@producer]
chains:
  produce: [correlation, security, metrics, audit, producer]
  consume: [correlation, metrics, audit, security]
defaultHandlers:
  produce: [produce]
  consume: [consume]
`;

function serviceConfig(serviceId: string, jwksUrl: string, auditYml: string): string {
  return configDir({
    'handler.yml': HANDLER_YML,
    'service.yml': serviceYml(serviceId, 'stopTimeoutMs: 10000\n'),
    'kafka-consumer.yml': consumerYml(uniqueName(serviceId)),
    'kafka-producer.yml': producerYml(),
    'security.yml': `jwt:\n  jwksUrl: ${jwksUrl}\n  issuer: [${ISSUER}]\n  audience: [${AUDIENCE}]\n`,
    'audit.yml': auditYml,
  });
}

describe('one business request across HTTP and Kafka hops @broker', function () {
  this.timeout(120_000);
  const cleanup: (() => Promise<void>)[] = [];

  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('C and D see the same correlation id, traceability id and token; caller_id names the producer of each hop; audit records both targets', async () => {
    const key = await makeKey('hop-key');
    const jwks = await JwksServer.start([key]);
    cleanup.push(() => jwks.stop());
    const orders = uniqueName('hop-orders');
    const shipments = uniqueName('hop-shipments');
    const auditTopic = uniqueName('hop-audit');
    await createTopics([orders, shipments, auditTopic, `${orders}.dlq`, `${shipments}.dlq`]);

    // C: a plain HTTP service (Express) that records what it received.
    const seenByC: IncomingHttpHeaders[] = [];
    const app = express();
    app.use(expressRequestContext());
    app.post('/reserve', (req, res) => {
      seenByC.push(req.headers);
      res.json({ reserved: true });
    });
    const serverC = createServer(app);
    const urlC = await listen(serverC);
    cleanup.push(() => close(serverC));

    // D: consumes shipments, audits to a file with user_id masked.
    const dConfig = serviceConfig('service-d', jwks.url, 'auditFile: AUDIT\nmask: [user_id]\n');
    const auditFile = join(dConfig, 'audit.log');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dConfig, 'audit.yml'), `auditFile: ${auditFile}\nmask: [user_id]\n`);
    const serviceD = await LightService.create({ configDir: dConfig });
    const seenByD: Exchange[] = [];
    serviceD.consumer.handle(shipments, (exchange) => void seenByD.push(exchange));

    // B: consumes orders, calls C, produces a shipment; audits to a topic with user_id masked.
    const serviceB = await LightService.create({ configDir: serviceConfig('service-b', jwks.url, `auditTarget: topic\nauditTopic: ${auditTopic}\nmask: [user_id]\n`) });
    const seenByB: Exchange[] = [];
    serviceB.consumer.handle(orders, async (exchange) => {
      seenByB.push(exchange);
      const response = await serviceB.fetch(`${urlC}/reserve`, { method: 'POST' });
      expect(response.status).to.equal(200);
      await serviceB.producer.send(shipments, { key: exchange.keyString, value: { order: exchange.value, reserved: true } });
    });

    // A: an HTTP front that produces orders; no header is passed by hand.
    const serviceA = await LightService.create({ configDir: serviceConfig('service-a', jwks.url, 'enabled: false\n') });
    const serverA: Server = createServer(
      withRequestContext((req, res) => {
        serviceA.producer.send(orders, { key: 'order-1', value: { item: 'book' } }).then(
          (metadata) => res.end(JSON.stringify(metadata)),
          (error: Error) => {
            res.statusCode = 500;
            res.end(error.message);
          },
        );
      }),
    );
    const urlA = await listen(serverA);

    for (const service of [serviceA, serviceB, serviceD]) {
      await service.start();
      cleanup.push(() => service.stop());
    }
    cleanup.push(() => close(serverA));

    const token = await signToken(key, { client_id: 'client-web', user_id: 'alice' });
    const response = await fetch(`${urlA}/orders`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'X-Traceability-Id': 'trace-abc' },
    });
    expect(response.status, await response.clone().text()).to.equal(200);
    await waitFor(() => seenByD.length === 1, 60_000, 'the shipment to reach D');

    const correlationId = seenByB[0]!.headers.get('X-Correlation-Id');
    expect(correlationId, 'A generated a correlation id').to.match(/^[0-9a-f-]{36}$/);
    // B received A's record: A's caller_id, the client's token and traceability id.
    expect(seenByB[0]!.headers.get('caller_id')).to.equal('service-a');
    expect(seenByB[0]!.headers.get('Authorization')).to.equal(`Bearer ${token}`);
    // C, over HTTP from B.
    expect(seenByC[0]).to.include({
      'x-correlation-id': correlationId,
      'x-traceability-id': 'trace-abc',
      authorization: `Bearer ${token}`,
      caller_id: 'service-b',
    });
    // D, over Kafka from B.
    const atD = seenByD[0]!;
    expect(atD.headers.get('X-Correlation-Id')).to.equal(correlationId);
    expect(atD.headers.get('X-Traceability-Id')).to.equal('trace-abc');
    expect(atD.headers.get('Authorization')).to.equal(`Bearer ${token}`);
    expect(atD.headers.getAll('caller_id')).to.deep.equal(['service-b']);
    // The names on the wire are exactly the shared ones.
    const [wire] = await readTopic(shipments, { count: 1 });
    expect(Object.keys(wire!.headers)).to.include.members(['X-Correlation-Id', 'X-Traceability-Id', 'Authorization', 'caller_id']);

    // Audit, topic target (B): one record per produced and consumed record.
    const audit = (await readTopic(auditTopic, { count: 2 })).map((record) => JSON.parse(record.value!) as Record<string, unknown>);
    const consumedAtB = audit.find((line) => line.direction === 'consume')!;
    const producedAtB = audit.find((line) => line.direction === 'produce')!;
    expect(consumedAtB).to.deep.include({
      'X-Correlation-Id': correlationId,
      'X-Traceability-Id': 'trace-abc',
      caller_id: 'service-a',
      client_id: 'client-web',
      user_id: '****',
      serviceId: 'service-b',
      topic: orders,
      partition: 0,
      offset: '0',
      key: 'order-1',
      statusCode: 200,
    });
    expect(producedAtB).to.deep.include({ caller_id: 'service-b', serviceId: 'service-b', topic: shipments, statusCode: 200, 'X-Correlation-Id': correlationId });

    // Audit, logfile target (D).
    await waitFor(() => existsSync(auditFile), 10_000, 'the audit file');
    const [line] = readFileSync(auditFile, 'utf8').trim().split('\n').map((text) => JSON.parse(text) as Record<string, unknown>);
    expect(line).to.deep.include({
      'X-Correlation-Id': correlationId,
      caller_id: 'service-b',
      client_id: 'client-web',
      user_id: '****',
      serviceId: 'service-d',
      direction: 'consume',
      topic: shipments,
      statusCode: 200,
    });
  });
});
