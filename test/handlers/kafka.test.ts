import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LightError } from '../../core/errors/light-error.js';
import type { Exchange } from '../../core/exchange.js';
import { DeadLetterHeaderNames as DLQ } from '../../core/headers.js';
import { LightService } from '../../index.js';
import { CHAIN_SLICE_RECORDS, type ConsumedEvent } from '../../core/kafka/consumer.js';
import { committedOffsets, createTopics, headerText, produceRaw, readTopic, readToEnd, uniqueName, waitFor } from '../support/kafka.js';

const FIXTURE_CONFIG = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'e2e', 'config');

interface TestService {
  service: LightService;
  received: Exchange[];
}

const running: LightService[] = [];

async function startService(
  topic: string,
  groupId: string,
  options: { handler?: (exchange: Exchange) => Promise<void> | void; env?: Record<string, string>; consume?: boolean } = {},
): Promise<TestService> {
  const service = await LightService.create({
    configDir: FIXTURE_CONFIG,
    env: { ...process.env, TEST_TOPIC: topic, TEST_GROUPID: groupId, TEST_TRANSACTIONALID: uniqueName('tx'), ...options.env },
  });
  running.push(service);
  const received: Exchange[] = [];
  if (options.consume !== false) {
    service.consumer.handle(topic, async (exchange) => {
      await options.handler?.(exchange);
      received.push(exchange);
    });
  }
  await service.start();
  return { service, received };
}

function valueOf(exchange: Exchange): { n: number } {
  return exchange.value as { n: number };
}

describe('kafka transport handlers on a real broker @broker', function () {
  this.timeout(120_000);

  afterEach(async () => {
    await Promise.all(running.splice(0).map((service) => service.stop()));
  });

  it('carries a record from the produce chain to the consume chain with every header intact', async () => {
    const topic = uniqueName('e2e');
    await createTopics([topic]);
    const { service, received } = await startService(topic, uniqueName('group'));
    const binary = Buffer.from([0, 1, 2, 254, 255]);
    const metadata = await service.producer.send(topic, {
      key: 'order-1',
      value: { n: 1, text: 'héllo' },
      headers: {
        Authorization: 'Bearer abc.def.ghi',
        'X-Correlation-Id': 'corr-1',
        'x-hop': ['client', 'gateway'],
        'x-binary': binary,
      },
    });
    expect(metadata.topic).to.equal(topic);
    expect(metadata.partition).to.equal(0);
    expect(metadata.offset).to.equal('0');

    await waitFor(() => received.length === 1, 30_000, 'the record to be consumed');
    const exchange = received[0]!;
    expect(exchange.value).to.deep.equal({ n: 1, text: 'héllo' });
    expect(exchange.keyString).to.equal('order-1');
    expect(exchange.headers.get('authorization')).to.equal('Bearer abc.def.ghi');
    expect(exchange.headers.get('x-correlation-id')).to.equal('corr-1');
    // Repeated values stay separate and in order; the custom produce handler appended one more.
    expect(exchange.headers.getAll('x-hop')).to.deep.equal(['client', 'gateway', 'enrich']);
    expect(exchange.headers.getBuffer('x-binary')!.equals(binary)).to.equal(true);
    // The custom handlers, loaded by path from handler.yml, ran on both sides with their own config.
    expect(exchange.headers.get('x-enriched-by')).to.equal('enriched-by-fixture');
    expect(exchange.attachments.get('trail')).to.equal('e2e-service:consume-chain');
    // The consumer put the record's headers into the request context before the chain ran.
    expect(exchange.attachments.get('contextCorrelationId')).to.equal('corr-1');

    // An independent reader sees the same bytes on the wire: names as written, repeated headers repeated.
    const [onWire] = await readTopic(topic, { count: 1 });
    expect(headerText(onWire!.headers, 'x-hop')).to.deep.equal(['client', 'gateway', 'enrich']);
    expect(headerText(onWire!.headers, 'Authorization')).to.equal('Bearer abc.def.ghi');
  });

  it('sends a batch in order, and a topic with no entry of its own through defaultHandlers', async () => {
    const topic = uniqueName('e2e');
    const other = uniqueName('other');
    await createTopics([topic, other]);
    const { service, received } = await startService(topic, uniqueName('group'));
    const results = await service.producer.send(topic, [1, 2, 3, 4, 5].map((n) => ({ key: 'same-key', value: { n } })));
    expect(results).to.have.length(5);
    await waitFor(() => received.length === 5, 30_000, 'five records');
    expect(received.map((exchange) => valueOf(exchange).n)).to.deep.equal([1, 2, 3, 4, 5]);

    await service.producer.send(other, { value: { n: 9 } });
    const [plain] = await readTopic(other, { count: 1 });
    expect(JSON.parse(plain!.value!)).to.deep.equal({ n: 9 });
    expect(plain!.headers).to.not.have.property('x-enriched-by');
  });

  it('sends nothing of a batch when one record fails in its produce chain', async () => {
    const topic = uniqueName('e2e');
    await createTopics([topic]);
    const { service } = await startService(topic, uniqueName('group'), { consume: false });
    const error = await service.producer
      .send(topic, [{ value: { n: 1 } }, { value: { n: 2, invalid: true } }, { value: { n: 3 } }])
      .then(() => undefined, (e: unknown) => e);
    expect(error).to.be.instanceOf(LightError);
    expect((error as LightError).code).to.equal('ERR11000');

    await service.producer.send(topic, { value: { n: 4 } });
    const records = await readToEnd(topic);
    expect(records.map((record) => JSON.parse(record.value!).n)).to.deep.equal([4]);
  });

  it('commits a transaction to two topics together, and hides an aborted one from read_committed readers', async () => {
    const first = uniqueName('tx-a');
    const second = uniqueName('tx-b');
    await createTopics([first, second]);
    const { service } = await startService(first, uniqueName('group'), { consume: false });
    const tx = service.transactionalProducer;

    await tx.transaction(async (t) => {
      await t.send(first, [{ value: { n: 1 } }, { value: { n: 2 } }]);
      await t.send(second, { value: { n: 3 } });
    });
    const error = await tx
      .transaction(async (t) => {
        await t.send(first, { value: { n: 100 } });
        await t.send(second, { value: { n: 101 } });
        throw new Error('business rule broken after sending');
      })
      .then(() => undefined, (e: unknown) => e);
    expect(error).to.be.instanceOf(LightError);
    expect((error as LightError).code).to.equal('ERR12001');
    expect((error as LightError).message).to.contain('business rule broken');
    await tx.transaction(async (t) => {
      await t.send(first, { value: { n: 4 } });
    });

    const committedFirst = await readToEnd(first);
    const committedSecond = await readToEnd(second);
    expect(committedFirst.map((record) => JSON.parse(record.value!).n)).to.deep.equal([1, 2, 4]);
    expect(committedSecond.map((record) => JSON.parse(record.value!).n)).to.deep.equal([3]);
    // The aborted records were written (a read_uncommitted reader sees them) but never committed.
    const uncommitted = await readToEnd(first, { readUncommitted: true });
    expect(uncommitted.map((record) => JSON.parse(record.value!).n)).to.deep.equal([1, 2, 100, 4]);
  });

  it('consume-transform-produce: each record is transformed exactly once, its offset committed in the same transaction', async () => {
    const input = uniqueName('ctp-in');
    const output = uniqueName('ctp-out');
    const groupId = uniqueName('group');
    await createTopics([input, output]);
    let failedOnce = false;
    const { service, received } = await startService(input, groupId, {
      handler: (exchange) =>
        service.transactionalProducer.transaction(async (t) => {
          await t.send(output, { key: String(exchange.key), value: { doubled: valueOf(exchange).n * 2 } });
          await t.sendOffsets({ topics: [{ topic: input, partitions: [{ partition: exchange.partition!, offset: String(Number(exchange.offset) + 1) }] }] });
          // The first attempt at record 2 fails after its output and offset went into the transaction: both are
          // aborted, the consumer retries the record, and the retry commits them once.
          if (valueOf(exchange).n === 2 && !failedOnce) {
            failedOnce = true;
            throw new Error('transient failure inside the transaction');
          }
        }),
    });
    await produceRaw(input, [1, 2, 3].map((n) => ({ key: `k${n}`, value: JSON.stringify({ n }) })));
    await waitFor(() => received.length === 3, 30_000, 'three records processed');

    const outputs = await readToEnd(output);
    expect(outputs.map((record) => JSON.parse(record.value!).doubled)).to.deep.equal([2, 4, 6]);
    expect(failedOnce).to.equal(true);
    const uncommitted = await readToEnd(output, { readUncommitted: true });
    expect(uncommitted.map((record) => JSON.parse(record.value!).doubled)).to.deep.equal([2, 4, 4, 6]);
    // Committed by the transactions (the consumer's own commit may not have run yet).
    expect((await committedOffsets(groupId, input)).get(0)).to.equal(3);
  });

  it('back-to-back transactions that only commit offsets all commit (the coordinator still finishing the previous one is waited for)', async () => {
    const topic = uniqueName('offsets-only');
    const groupId = uniqueName('group');
    await createTopics([topic]);
    // Running and in its group: librdkafka sends the offsets with its consumer's group metadata, which the broker
    // refuses (ILLEGAL_GENERATION, KIP-447) while the first join is still under way.
    const { service } = await startService(topic, groupId);
    await waitFor(() => service.consumer.hasJoinedGroup, 30_000, 'the consumer in its group');
    // A batch whose records wrote nothing commits its offsets alone: that transaction's first request is
    // AddOffsetsToTxn, sent right after the previous commit, while the coordinator still writes its markers.
    for (let offset = 1; offset <= 40; offset++) {
      await service.transactionalProducer.transaction((t) => t.sendOffsets({ topics: [{ topic, partitions: [{ partition: 0, offset: String(offset) }] }] }));
    }
    expect((await committedOffsets(groupId, topic)).get(0)).to.equal(40);
  });

  it('librdkafka: sendOffsets while the service\'s consumer is not running is refused with ERR12018, and the process lives', async function () {
    if (process.env.SERVICE_TRANSPORT !== 'librdkafka') this.skip();
    const topic = uniqueName('ctp-idle');
    await createTopics([topic]);
    // No handler: the consumer never connects, so it has no group metadata to send (the native client crashed here).
    const { service } = await startService(topic, uniqueName('group'), { consume: false });
    const error = await service.transactionalProducer
      .transaction((t) => t.sendOffsets({ topics: [{ topic, partitions: [{ partition: 0, offset: '1' }] }] }))
      .then(() => undefined, (e: unknown) => e);
    expect((error as LightError).code).to.equal('ERR12018');
    expect((error as LightError).message).to.contain('not running');
  });

  it('librdkafka: sendOffsets for another consumer group is refused (the offsets carry this consumer\'s group metadata)', async function () {
    if (process.env.SERVICE_TRANSPORT !== 'librdkafka') this.skip();
    const topic = uniqueName('ctp-group');
    await createTopics([topic]);
    const { service } = await startService(topic, uniqueName('group'), { consume: false });
    const error = await service.transactionalProducer
      .transaction((t) => t.sendOffsets({ consumerGroupId: 'someone-else', topics: [{ topic, partitions: [{ partition: 0, offset: '1' }] }] }))
      .then(() => undefined, (e: unknown) => e);
    expect((error as LightError).code).to.equal('ERR12010');
  });

  it('sends a record whose handler throws to <topic>.dlq with error headers, and goes on with the next', async () => {
    const topic = uniqueName('e2e');
    await createTopics([topic, `${topic}.dlq`]);
    let attemptsOnBad = 0;
    const { service, received } = await startService(topic, uniqueName('group'), {
      handler: (exchange) => {
        if (valueOf(exchange).n === 2) {
          attemptsOnBad += 1;
          throw new Error('cannot process order 2');
        }
      },
    });
    await service.producer.send(topic, [1, 2, 3].map((n) => ({ key: `k${n}`, value: { n }, headers: { 'x-tag': ['t1', 't2'] } })));
    await waitFor(() => received.length === 2, 30_000, 'records 1 and 3');
    expect(received.map((exchange) => valueOf(exchange).n)).to.deep.equal([1, 3]);
    expect(attemptsOnBad).to.equal(3); // the first try and maxRetries: 2

    const [dead] = await readTopic(`${topic}.dlq`, { count: 1 });
    expect(dead!.key).to.equal('k2');
    expect(JSON.parse(dead!.value!)).to.deep.equal({ n: 2 });
    const h = (name: string): unknown => headerText(dead!.headers, name);
    expect(h('x-tag')).to.deep.equal(['t1', 't2']);
    expect(h('x-enriched-by')).to.equal('enriched-by-fixture');
    expect(h(DLQ.originalTopic)).to.equal(topic);
    expect(h(DLQ.originalPartition)).to.equal('0');
    expect(h(DLQ.originalOffset)).to.equal('1');
    expect(Number(h(DLQ.originalTimestamp))).to.be.greaterThan(Date.now() - 120_000);
    expect(h(DLQ.errorCode)).to.equal('ERR10010');
    expect(h(DLQ.errorMessage)).to.equal('cannot process order 2');
    expect(h(DLQ.errorStack)).to.contain('cannot process order 2');
    expect(h(DLQ.attempts)).to.equal('3');
  });

  it('does not retry a non-retryable failure, and dead-letters malformed JSON with its own code', async () => {
    const topic = uniqueName('e2e');
    await createTopics([topic, `${topic}.dlq`]);
    let calls = 0;
    const { received } = await startService(topic, uniqueName('group'), {
      handler: (exchange) => {
        calls += 1;
        if (valueOf(exchange).n === 1) throw new LightError('ERR10005', { scopes: [], required: ['order.w'], topic });
      },
    });
    await produceRaw(topic, [{ value: '{"n":1}' }, { value: '{not json' }, { value: '{"n":3}' }]);
    await waitFor(() => received.length === 1, 30_000, 'record 3');
    expect(calls).to.equal(2); // n=1 once (no retry), the malformed one never reached the handler, n=3 once
    const dead = await readTopic(`${topic}.dlq`, { count: 2 });
    expect(dead.map((record) => headerText(record.headers, DLQ.errorCode))).to.deep.equal(['ERR10005', 'ERR11004']);
    expect(dead.map((record) => headerText(record.headers, DLQ.attempts))).to.deep.equal(['1', '1']);
    expect(dead[1]!.value).to.equal('{not json');
  });

  it('resumes in the same group after a stop mid-stream with no record lost', async () => {
    const topic = uniqueName('e2e');
    await createTopics([topic, `${topic}.dlq`], 3);
    const total = 300;
    const producerSide = await startService(topic, uniqueName('unused'), { consume: false });
    await producerSide.service.producer.send(topic, Array.from({ length: total }, (_, n) => ({ key: `k${n}`, value: { n } })));

    const group = uniqueName('group');
    const first = await startService(topic, group, { handler: () => new Promise((resolve) => setTimeout(resolve, 5)) });
    await waitFor(() => first.received.length >= 60, 30_000, '60 records in the first run');
    await first.service.stop();
    const firstRun = first.received.map((exchange) => valueOf(exchange).n);
    expect(firstRun.length).to.be.lessThan(total);

    const second = await startService(topic, group);
    await waitFor(() => firstRun.length + second.received.length >= total, 60_000, 'the rest in the second run');
    const secondRun = second.received.map((exchange) => valueOf(exchange).n);
    const seen = new Set([...firstRun, ...secondRun]);
    expect(seen.size).to.equal(total);
    // Offsets of processed records were committed on stop: the second run does not start over.
    const reprocessed = secondRun.filter((n) => firstRun.includes(n));
    expect(reprocessed).to.deep.equal([]);
    // Order within a partition is kept (keys map to partitions; values rise within each key's partition).
    for (const run of [first.received, second.received]) {
      const lastByPartition = new Map<number, number>();
      for (const exchange of run) {
        const previous = lastByPartition.get(exchange.partition!) ?? -1;
        expect(Number(exchange.offset)).to.be.greaterThan(previous);
        lastByPartition.set(exchange.partition!, Number(exchange.offset));
      }
    }
  });

  it('with failurePolicy: stop, halts the partition at the failed record and leaves it uncommitted', async () => {
    const topic = uniqueName('e2e');
    await createTopics([topic]);
    const group = uniqueName('group');
    const env = { TEST_FAILUREPOLICY: 'stop' };
    const first = await startService(topic, group, {
      env,
      handler: (exchange) => {
        if (valueOf(exchange).n === 2) throw new Error('poison');
      },
    });
    const stopped: unknown[] = [];
    first.service.consumer.on('partitionStopped', (event) => stopped.push(event));
    await first.service.producer.send(topic, [1, 2, 3].map((n) => ({ value: { n } })));
    await waitFor(() => stopped.length === 1, 30_000, 'the partition to stop');
    expect(first.received.map((exchange) => valueOf(exchange).n)).to.deep.equal([1]);
    expect((stopped[0] as { error: LightError }).error.code).to.equal('ERR12005');
    await first.service.stop();

    const second = await startService(topic, group, { env });
    await waitFor(() => second.received.length === 2, 30_000, 'records 2 and 3 again');
    expect(second.received.map((exchange) => valueOf(exchange).n)).to.deep.equal([2, 3]);
  });

  /** 700 small records (well under a fetch), written before the consumer starts so that its first fetch holds them all. */
  const writeSevenHundred = (topic: string): Promise<void> => produceRaw(topic, Array.from({ length: 700 }, (_, n) => ({ value: JSON.stringify({ n }) })));

  it(`runs a fetched batch of more than ${CHAIN_SLICE_RECORDS} records through the chain ${CHAIN_SLICE_RECORDS} at a time, in offset order`, async () => {
    expect(CHAIN_SLICE_RECORDS).to.equal(256);
    const topic = uniqueName('e2e');
    await createTopics([topic]);
    await writeSevenHundred(topic);
    const group = uniqueName('group');
    const { service, received } = await startService(topic, group);
    await waitFor(() => received.length === 700, 60_000, '700 records');
    expect(received.map((exchange) => valueOf(exchange).n)).to.deep.equal(Array.from({ length: 700 }, (_, n) => n));
    const sizes = received.map((exchange) => exchange.attachments.get('batchSize') as number);
    expect(Math.max(...sizes)).to.be.at.most(CHAIN_SLICE_RECORDS);
    // At least two full slices: a fetched batch was cut, not merely fetched small.
    expect(sizes.filter((size) => size === CHAIN_SLICE_RECORDS).length).to.be.at.least(2 * CHAIN_SLICE_RECORDS);
    await service.stop();
    expect((await committedOffsets(group, topic)).get(0)).to.equal(700);
  });

  it('with failurePolicy: stop, a record that fails in a later slice of a batch stops the partition there', async () => {
    const topic = uniqueName('e2e');
    await createTopics([topic]);
    await writeSevenHundred(topic);
    const group = uniqueName('group');
    const stopped: { offset: string }[] = [];
    const { service, received } = await startService(topic, group, {
      env: { TEST_FAILUREPOLICY: 'stop' },
      handler: (exchange) => {
        if (valueOf(exchange).n === 300) throw new Error('poison');
      },
    });
    service.consumer.on('partitionStopped', (event: { offset: string }) => stopped.push(event));
    await waitFor(() => stopped.length === 1, 60_000, 'the partition to stop');
    // Time for any record after the stopped one to (wrongly) run.
    await sleep(1000);
    expect(received.map((exchange) => valueOf(exchange).n)).to.deep.equal(Array.from({ length: 300 }, (_, n) => n));
    expect(stopped[0]!.offset).to.equal('300');
    await service.stop();
    expect((await committedOffsets(group, topic)).get(0)).to.equal(300);
  });

  it('reports each consumed record with its outcome', async () => {
    const topic = uniqueName('e2e');
    await createTopics([topic, `${topic}.dlq`]);
    const events: ConsumedEvent[] = [];
    const { service } = await startService(topic, uniqueName('group'), {
      handler: (exchange) => {
        if (valueOf(exchange).n === 2) throw new LightError('ERR11000', { topic, instancePath: '/n', reason: 'bad' });
      },
    });
    service.consumer.on('record', (event: ConsumedEvent) => events.push(event));
    await service.producer.send(topic, [1, 2].map((n) => ({ value: { n } })));
    await waitFor(() => events.length === 2, 30_000, 'two record events');
    expect(events.map((event) => event.outcome.kind)).to.deep.equal(['processed', 'deadLettered']);
  });
});
