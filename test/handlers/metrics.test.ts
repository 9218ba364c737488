import { expect } from 'chai';
import { ensureKafka, type KafkaHandle } from '../../scripts/kafka-local.js';
import { LightService } from '../../index.js';
import { configDir, consumerYml, serviceYml } from '../support/config-dir.js';
import { createTopics, produceRaw, uniqueName, waitFor } from '../support/kafka.js';
import { AUDIENCE, ISSUER, makeKey, signToken } from '../support/jwt.js';
import { RecordHeaders } from '../../core/headers.js';
import { contextFromRecord, runWithContext } from '../../core/request-context.js';
import type { Exchange } from '../../core/exchange.js';

const HANDLER_YML = `handlers: [correlation, metrics, kafka/producer@producer]
defaultHandlers:
  produce: [correlation, metrics, producer]
  consume: [correlation, metrics]
`;

/** Prometheus text lines of one metric, with the label set as written. */
function series(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${name}{`));
}

function valueOf(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  const line = series(text, name).find((candidate) => wanted.every((label) => candidate.includes(label)));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: await response.text() };
}

describe('metrics handler and health over HTTP @broker', function () {
  this.timeout(180_000);

  it('/metrics shows labelled record series, consumer lag and dead letters', async () => {
    const topic = uniqueName('metrics');
    await createTopics([topic, `${topic}.dlq`]);
    // Security on both sides: the records' client is a label of their series, consumed and produced alike.
    const key = await makeKey('signer');
    const token = await signToken(key, { client_id: 'client-a' });
    const dir = configDir({
      'handler.yml': `handlers: [correlation, security, metrics, kafka/producer@producer]\ndefaultHandlers:\n  produce: [correlation, security, metrics, producer]\n  consume: [correlation, security, metrics]\n`,
      'security.yml': `jwt:\n  keys:\n    - kid: signer\n      file: signer.pem\n      alg: RS256\n  issuer: [${ISSUER}]\n  audience: [${AUDIENCE}]\nproduce:\n  verifyToken: true\n`,
      'signer.pem': key.publicPem,
      'service.yml': serviceYml('svc-metrics'),
      'kafka-consumer.yml': consumerYml(uniqueName('metrics'), '', 0),
      'metrics.yml': 'server:\n  enabled: true\n  port: 0\n',
    });
    // Five records are in the log before the consumer starts, so they arrive in one batch.
    await produceRaw(
      topic,
      [1, 2, 3, 4, 5].map((n) => ({ value: JSON.stringify({ n }), headers: { caller_id: 'svc-upstream', 'X-Correlation-Id': `c${n}`, Authorization: `Bearer ${token}` } })),
    );
    const service = await LightService.create({ configDir: dir });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let processed = 0;
    service.consumer.handle(topic, async (exchange) => {
      const { n } = exchange.value as { n: number };
      if (n === 3) await gate;
      if (n === 5) throw new Error('fails on purpose');
      processed += 1;
    });
    // The consumer's 'record' event comes once a record's outcome is final (dead letter written included).
    let finished = 0;
    service.consumer.on('record', () => void (finished += 1));
    await service.start();
    try {
      const port = service.healthPort!;
      await waitFor(() => processed === 2, 30_000, 'two records before the gate');
      // Record 2 of 5 is done and 3 waits: three records are still behind the high watermark. Metrics are
      // counted per batch; the records before a slow one are flushed within 100 ms.
      let lagDuring: number | undefined;
      await waitFor(async () => {
        lagDuring = valueOf((await get(port, '/metrics')).body, 'light_kafka_consumer_lag', { serviceId: 'svc-metrics', topic, partition: '0' });
        return lagDuring !== undefined;
      }, 5_000, 'the lag while record 3 waits');
      expect(lagDuring).to.equal(3);
      // The offset the partition resumes at: after record 2 (offset 1).
      expect(valueOf((await get(port, '/metrics')).body, 'light_kafka_consumer_offset', { serviceId: 'svc-metrics', topic, partition: '0' })).to.equal(2);
      release();
      await waitFor(() => finished === 5, 30_000, 'all five records, the dead letter of the fifth included');
      expect(processed).to.equal(4);

      const { status, body } = await get(port, '/metrics');
      expect(status).to.equal(200);
      const labels = { serviceId: 'svc-metrics', topic, direction: 'consume', clientId: 'client-a', callerId: 'svc-upstream' };
      expect(valueOf(body, 'light_kafka_records_total', { ...labels, status: '200' })).to.equal(4);
      expect(valueOf(body, 'light_kafka_records_total', { ...labels, status: '500' })).to.equal(1);
      expect(valueOf(body, 'light_kafka_record_duration_seconds_count', { ...labels, status: '200' })).to.equal(4);
      expect(valueOf(body, 'light_kafka_consumer_lag', { serviceId: 'svc-metrics', topic, partition: '0' })).to.equal(0);
      expect(valueOf(body, 'light_kafka_consumer_offset', { serviceId: 'svc-metrics', topic, partition: '0' })).to.equal(5);
      expect(valueOf(body, 'light_kafka_dead_letter_total', { serviceId: 'svc-metrics', topic, code: 'ERR10010' })).to.equal(1);

      // Produced while handling a request of client-a: its token is verified on produce and names the client.
      await runWithContext(contextFromRecord(RecordHeaders.from({ Authorization: `Bearer ${token}` })), () => service.producer.send(topic, { value: { n: 6 } }));
      const afterSend = (await get(port, '/metrics')).body;
      expect(valueOf(afterSend, 'light_kafka_records_total', { serviceId: 'svc-metrics', topic, direction: 'produce', clientId: 'client-a', callerId: 'svc-metrics', status: '200' })).to.equal(1);
      expect((await get(port, '/health/liveness')).status).to.equal(200);
    } finally {
      release();
      await service.stop();
    }
  });

  // Both ways a consumer runs records: one by one, and staged around a batch handler (which reports the stop after the
  // handlers' endBatch of the batch, as the other does after flushing).
  for (const mode of ['handle', 'handleBatch'] as const) {
    it(`a partition stopped on its last record (failurePolicy: stop, ${mode}) shows that record behind and the offset it resumes at`, async () => {
      const topic = uniqueName('metrics-stop');
      await createTopics([topic]);
      const service = await LightService.create({
        configDir: configDir({
          'handler.yml': HANDLER_YML,
          'service.yml': serviceYml('svc-stop'),
          'kafka-consumer.yml': consumerYml(uniqueName('metrics-stop'), 'failurePolicy: stop\n', 0),
          'metrics.yml': 'server:\n  enabled: true\n  port: 0\n',
        }),
      });
      const failsOnTwo = (exchange: Exchange): void => {
        if ((exchange.value as { n: number }).n === 2) throw new Error('fails on purpose');
      };
      if (mode === 'handle') service.consumer.handle(topic, failsOnTwo);
      else service.consumer.handleBatch(topic, (exchanges) => exchanges.forEach(failsOnTwo));
      let stopped = 0;
      service.consumer.on('partitionStopped', () => void (stopped += 1));
      await service.start();
      try {
        await service.producer.send(topic, [1, 2].map((n) => ({ value: { n } })));
        await waitFor(() => stopped === 1, 30_000, 'the partition to stop at record 2');
        const body = (await get(service.healthPort!, '/metrics')).body;
        // Record 2 (offset 1) did not finish: the partition resumes there, one record behind, for as long as it stays
        // stopped (an alert on lag > 0 with an offset that does not move sees it).
        expect(valueOf(body, 'light_kafka_consumer_offset', { serviceId: 'svc-stop', topic, partition: '0' })).to.equal(1);
        expect(valueOf(body, 'light_kafka_consumer_lag', { serviceId: 'svc-stop', topic, partition: '0' })).to.equal(1);
      } finally {
        await service.stop();
      }
    });
  }

  it('readiness is true once the consumer joined its group, and false when the broker stops', async () => {
    // A broker of its own, so stopping it disturbs no other test: 10000 above the suite's (helpers running side by
    // side each set their own LIGHT_KAFKA_LOCAL_PORT, so each gets its own second broker too).
    const port = Number(process.env.LIGHT_KAFKA_LOCAL_PORT ?? 9092) + 10_000;
    let kafka: KafkaHandle | undefined = await ensureKafka({ port, useKafkaBrokersEnv: false });
    expect(kafka.owned, `a broker already runs on ${port}`).to.equal(true);
    const topic = uniqueName('ready');
    const dir = configDir({
      'handler.yml': HANDLER_YML,
      'service.yml': serviceYml('svc-ready', 'stopTimeoutMs: 5000\n'),
      'kafka-consumer.yml': `properties:\n  bootstrap.servers: ${kafka.brokers}\n  group.id: ${uniqueName('ready')}\n  session.timeout.ms: 10000\n  heartbeat.interval.ms: 1000\n`,
      'kafka-producer.yml': `properties:\n  bootstrap.servers: ${kafka.brokers}\n  retries: 1\n`,
      'metrics.yml': 'server:\n  enabled: true\n  port: 0\nbrokerCheckTimeoutMs: 1000\n',
    });
    const service = await LightService.create({ configDir: dir });
    service.consumer.handle(topic, () => undefined);
    try {
      await service.start();
      const healthPort = service.healthPort!;
      let readiness = await get(healthPort, '/health/readiness');
      const deadline = Date.now() + 30_000;
      while (readiness.status !== 200 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        readiness = await get(healthPort, '/health/readiness');
      }
      expect(readiness.status, readiness.body).to.equal(200);
      expect(JSON.parse(readiness.body)).to.deep.include({ status: 'UP' });

      await kafka.stop();
      kafka = undefined;
      const downDeadline = Date.now() + 30_000;
      while (readiness.status === 200 && Date.now() < downDeadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        readiness = await get(healthPort, '/health/readiness');
      }
      expect(readiness.status).to.equal(503);
      expect(JSON.parse(readiness.body).checks.broker).to.equal(false);
      expect((await get(healthPort, '/health/liveness')).status).to.equal(200);
    } finally {
      await service.stop();
      await kafka?.stop();
    }
  });
});
