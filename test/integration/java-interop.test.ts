import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import type { Exchange } from '../../core/exchange.js';
import { RecordHeaders } from '../../core/headers.js';
import { contextFromRecord, runWithContext } from '../../core/request-context.js';
import { LightService } from '../../index.js';
import { fetchKafka } from '../../scripts/kafka-local.js';
import { configDir, consumerYml, producerYml, serviceYml } from '../support/config-dir.js';
import { brokers, createTopics, uniqueName, waitFor } from '../support/kafka.js';

/** Runs test/fixtures/java/KafkaInterop.java (Java's single-file launch) with the Kafka jars the launcher fetched. */
async function java(args: string[]): Promise<string[]> {
  const libs = join(await fetchKafka(), '*');
  const child = spawn('java', ['-cp', libs, join(PACKAGE_ROOT, 'test', 'fixtures', 'java', 'KafkaInterop.java'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`java ${args[0]} exited with ${code}: ${err.slice(-2000)}`);
  return out.split('\n').filter((line) => line.startsWith('{') || line === 'produced');
}

function service(): Promise<LightService> {
  return LightService.create({
    configDir: configDir({
      'service.yml': serviceYml('light-interop'),
      'kafka-consumer.yml': consumerYml(uniqueName('interop')),
      'kafka-producer.yml': producerYml('  transactional.id: ${interop.txId:light-interop-tx}\n'),
      'handler.yml': 'handlers: [correlation, kafka/producer@producer]\ndefaultHandlers:\n  produce: [correlation, producer]\n  consume: [correlation]\n',
    }),
    env: { ...process.env, INTEROP_TXID: uniqueName('light-interop-tx') },
  });
}

describe("Kafka's Java client and light-kafka on the same topics @broker", function () {
  this.timeout(180_000);

  it('light-kafka reads what the Java client wrote: committed records only, exact header names, repeated and mixed-case headers', async () => {
    const topic = uniqueName('from-java');
    await createTopics([topic]);
    expect(await java(['produce', brokers().join(','), topic])).to.deep.equal(['produced']);
    const light = await service();
    const seen: Exchange[] = [];
    light.consumer.handle(topic, (exchange) => void seen.push(exchange));
    try {
      await light.start();
      await waitFor(() => seen.length >= 3, 60_000, 'the three committed records');
      // Nothing of the aborted transaction arrives after the committed ones either.
      await new Promise((resolve) => setTimeout(resolve, 1000));
    } finally {
      await light.stop();
    }
    expect(seen.map((exchange) => exchange.keyString)).to.deep.equal(['java-1', 'java-2', 'java-3']);
    const first = seen[0]!;
    expect(first.value).to.deep.equal({ n: 1 });
    expect(first.headers.names()).to.include.members(['X-Correlation-Id', 'x-TRACEABILITY-id', 'x-multi', 'caller_id']);
    expect(first.headers.get('x-correlation-id')).to.equal('c-java-1');
    expect(first.headers.get('X-Traceability-Id')).to.equal('t-java-1');
    expect(first.headers.getAll('x-multi')).to.deep.equal(['first', 'second']);
    expect(first.identity.callerId).to.equal('java-service');
  });

  it('the Java client reads what light-kafka wrote: exact header names and values, nothing of an aborted transaction', async () => {
    const topic = uniqueName('to-java');
    await createTopics([topic]);
    const light = await service();
    await light.start();
    try {
      const context = contextFromRecord(RecordHeaders.from({ 'X-Correlation-Id': 'c-light-1', 'X-Traceability-Id': 't-light-1' }));
      await runWithContext(context, () => light.producer.send(topic, { key: 'light-1', value: { n: 1 }, headers: RecordHeaders.from({ 'x-multi': 'first' }).add('x-multi', 'second') }));
      await light.transactionalProducer
        .transaction(async (tx) => {
          await tx.send(topic, { key: 'light-aborted', value: { n: -1 } });
          throw new Error('abort on purpose');
        })
        .catch(() => undefined);
      await light.transactionalProducer.transaction(async (tx) => {
        await tx.send(topic, { key: 'light-2', value: { n: 2 } });
      });
    } finally {
      await light.stop();
    }
    const lines = (await java(['consume', brokers().join(','), topic, '2'])).map((line) => JSON.parse(line) as { key: string; value: string; headers: [string, string][] });
    expect(lines.map((line) => line.key)).to.deep.equal(['light-1', 'light-2']);
    expect(JSON.parse(lines[0]!.value)).to.deep.equal({ n: 1 });
    const headers = lines[0]!.headers;
    expect(headers).to.deep.include.members([
      ['X-Correlation-Id', 'c-light-1'],
      ['X-Traceability-Id', 't-light-1'],
      ['caller_id', 'light-interop'],
      ['x-multi', 'first'],
      ['x-multi', 'second'],
    ]);
  });
});
