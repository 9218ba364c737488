import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { retryTransient } from '../../core/kafka/transient.js';
import { LightService } from '../../index.js';
import { countsPerKey, countTopology } from '../fixtures/streams/count-topology.js';
import { configDir, consumerYml, producerYml, serviceYml } from '../support/config-dir.js';
import { brokers, createTopics, produceRaw, readToEnd, uniqueName, waitFor } from '../support/kafka.js';

const KEYS = 30;

function streamsConfig(applicationId: string, stateDir: string, guarantee: 'exactly_once' | 'at_least_once', extraProperties = ''): string {
  return configDir({
    'service.yml': serviceYml('streams-test', 'stopTimeoutMs: 20000\n'),
    'kafka-consumer.yml': consumerYml(uniqueName('streams-unused'), '', 1),
    'kafka-producer.yml': producerYml(),
    'kafka-streams.yml': `properties:
  bootstrap.servers: \${kafka.brokers}
  application.id: ${applicationId}
  processing.guarantee: ${guarantee}
  state.dir: ${stateDir}
  commit.interval.ms: 100
  consumer.session.timeout.ms: 10000
  consumer.heartbeat.interval.ms: 1000
${extraProperties}`,
    'handler.yml': `handlers: [correlation, kafka/producer@producer]
defaultHandlers:
  produce: [correlation, producer]
  consume: [correlation]
`,
  });
}

/** `perKey` records for each of KEYS keys, interleaved; record `seq` of key k carries correlation id `k-seq`. */
async function produceCounted(topic: string, perKey: number, poison: Set<number> = new Set()): Promise<void> {
  const records: { key: string; value: string; headers: Record<string, string> }[] = [];
  for (let seq = 0; seq < perKey; seq++) {
    for (let k = 0; k < KEYS; k++) {
      const index = records.length;
      const value = poison.has(index) ? '{not json' : JSON.stringify({ n: seq });
      records.push({ key: `k${k}`, value, headers: { 'X-Correlation-Id': `k${k}-${seq}` } });
    }
  }
  for (let i = 0; i < records.length; i += 1000) await produceRaw(topic, records.slice(i, i + 1000));
}

async function endOffsetSum(topic: string): Promise<number> {
  const admin = new Kafka({ brokers: brokers(), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((sum, { high }) => sum + Number(high), 0);
  } finally {
    await admin.disconnect();
  }
}

async function startCounting(dir: string, input: string, output: string): Promise<LightService> {
  const service = await LightService.create({ configDir: dir });
  countTopology(service, input, output);
  await service.start();
  return service;
}

function storeCounts(service: LightService): Map<string, number> {
  return new Map(service.streams.store<number>('counts').all().map(({ key, value }) => [key, value]));
}

/** Runs the counting service in a child process until the output shows progress, then kills it with SIGKILL. */
async function killMidStream(dir: string, input: string, output: string, progress: number): Promise<void> {
  const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist', 'test', 'fixtures', 'streams', 'count-process.js'), dir, input, output], {
    env: { ...process.env, LOG_LEVEL: 'error' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    await waitFor(async () => (await endOffsetSum(output)) >= progress, 90_000, `the child wrote ${progress} output records`);
  } finally {
    child.kill('SIGKILL');
  }
  await exited;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function queryOver(port: number, key: string): Promise<{ value?: number; answeredBy: string; partition: number }> {
  const response = await fetch(`http://127.0.0.1:${port}/streams/stores/counts/keys/${key}`, { headers: { 'X-Correlation-Id': `query-${key}` } });
  expect(response.status, `query for ${key} on port ${port}`).to.equal(200);
  return (await response.json()) as { value?: number; answeredBy: string; partition: number };
}

describe('LightStreams @broker', function () {
  this.timeout(240_000);
  const stateDirs: string[] = [];
  const stateDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'light-kafka-streams-'));
    stateDirs.push(dir);
    return dir;
  };
  after(() => {
    for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
  });

  it('exactly_once: killed with SIGKILL mid-stream and restarted, the store and the read_committed output hold each input once', async () => {
    const perKey = 100;
    const input = uniqueName('streams-in');
    const output = uniqueName('streams-out');
    await createTopics([input, output], 3);
    await produceCounted(input, perKey);
    const dir = streamsConfig(uniqueName('streams-eos'), stateDir(), 'exactly_once');

    await killMidStream(dir, input, output, 600);
    const written = await endOffsetSum(output);
    expect(written, 'output records (and commit markers) before the kill').to.be.below(KEYS * perKey);

    const service = await startCounting(dir, input, output);
    try {
      await waitFor(() => [...storeCounts(service).values()].filter((count) => count >= perKey).length === KEYS, 90_000, 'every key counted to the end');
      const counts = storeCounts(service);
      expect(counts.size).to.equal(KEYS);
      for (const [key, count] of counts) expect(count, `store count of ${key}`).to.equal(perKey);
    } finally {
      await service.stop();
    }
    const perKeyOutput = countsPerKey(await readToEnd(output));
    expect(perKeyOutput.size).to.equal(KEYS);
    for (const [key, updates] of perKeyOutput) {
      // Each input's effect exactly once: the counts 1..perKey, in order, no gap and no repeat.
      expect(updates.map(({ count }) => count), key).to.deep.equal(Array.from({ length: perKey }, (_, i) => i + 1));
      // Each output carries the correlation id of the input that caused it.
      expect(updates.map(({ correlationId }) => correlationId), key).to.deep.equal(Array.from({ length: perKey }, (_, i) => `${key}-${i}`));
    }
  });

  it('at_least_once: killed with SIGKILL mid-stream and restarted, no input is lost', async () => {
    const perKey = 100;
    const input = uniqueName('streams-alos-in');
    const output = uniqueName('streams-alos-out');
    await createTopics([input, output], 3);
    await produceCounted(input, perKey);
    const dir = streamsConfig(uniqueName('streams-alos'), stateDir(), 'at_least_once');

    await killMidStream(dir, input, output, 600);
    const service = await startCounting(dir, input, output);
    try {
      await waitFor(() => [...storeCounts(service).values()].filter((count) => count >= perKey).length === KEYS, 90_000, 'every key counted to the end');
    } finally {
      await service.stop();
    }
    // Every input has its output (by the correlation id it carries), perhaps twice. Not every count need appear: the
    // outputs and the changelog are written without a transaction, so a kill can land a count in the changelog and
    // not in the output; the restored store then counts the re-read input one higher.
    const perKeyOutput = countsPerKey(await readToEnd(output, { readUncommitted: true }));
    expect(perKeyOutput.size).to.equal(KEYS);
    for (const [key, updates] of perKeyOutput) {
      const inputs = new Set(updates.map(({ correlationId }) => correlationId));
      for (let seq = 0; seq < perKey; seq++) expect(inputs.has(`${key}-${seq}`), `${key}: an output of input ${seq}`).to.equal(true);
    }
  });

  it('restores a store whose local state was deleted to what it was, and restores nothing when the local state is intact', async () => {
    const perKey = 20;
    const input = uniqueName('streams-restore-in');
    const output = uniqueName('streams-restore-out');
    await createTopics([input, output], 3);
    await produceCounted(input, perKey);
    const state = stateDir();
    const dir = streamsConfig(uniqueName('streams-restore'), state, 'exactly_once');
    const restoredRecords = async (service: LightService): Promise<number> =>
      ((await service.metricsRegistry.getSingleMetric('light_kafka_streams_restored_records_total')?.get())?.values ?? []).reduce((sum, { value }) => sum + value, 0);

    const first = await startCounting(dir, input, output);
    let before: Map<string, number>;
    try {
      await waitFor(() => [...storeCounts(first).values()].filter((count) => count === perKey).length === KEYS, 60_000, 'every key counted');
      before = storeCounts(first);
    } finally {
      await first.stop();
    }

    const intact = await startCounting(dir, input, output);
    try {
      await waitFor(() => storeCounts(intact).size === KEYS, 60_000, 'the tasks opened on intact state');
      expect(storeCounts(intact)).to.deep.equal(before);
      expect(await restoredRecords(intact), 'changelog records read with the local state intact').to.equal(0);
    } finally {
      await intact.stop();
    }

    rmSync(state, { recursive: true, force: true });
    const restored = await startCounting(dir, input, output);
    try {
      await waitFor(() => storeCounts(restored).size === KEYS, 60_000, 'the store restored from its changelog');
      expect(storeCounts(restored)).to.deep.equal(before);
      expect(await restoredRecords(restored), 'changelog records read after the local state was deleted').to.be.at.least(KEYS);
      expect(restored.streams.store<number>('counts').get('k3')).to.equal(perKey);
      expect(restored.streams.store<number>('counts').prefix('k1').map(({ key }) => key)).to.deep.equal(['k1', 'k10', 'k11', 'k12', 'k13', 'k14', 'k15', 'k16', 'k17', 'k18', 'k19']);
    } finally {
      await restored.stop();
    }
  });

  it('sends a bad input record to the dead-letter topic and goes on with the stream', async () => {
    const perKey = 10;
    const input = uniqueName('streams-bad-in');
    const output = uniqueName('streams-bad-out');
    await createTopics([input, output, `${input}.dlq`], 3);
    // Record 45 is seq 1 of k15: malformed JSON.
    await produceCounted(input, perKey, new Set([45]));
    const service = await startCounting(streamsConfig(uniqueName('streams-bad'), stateDir(), 'exactly_once'), input, output);
    try {
      const counted = (): number => [...storeCounts(service).values()].reduce((sum, count) => sum + count, 0);
      // On a time-out, say where counting stood: short of the total (a stall) or past it (a record counted twice).
      await waitFor(() => counted() === KEYS * perKey - 1, 60_000, 'every valid record counted').catch((error: Error) => {
        throw new Error(`${error.message}: ${counted()} of ${KEYS * perKey - 1} counted, per key ${JSON.stringify(Object.fromEntries(storeCounts(service)))}`);
      });
      expect(storeCounts(service).get('k15')).to.equal(perKey - 1);
      expect(storeCounts(service).get('k16')).to.equal(perKey);
    } finally {
      await service.stop();
    }
    const deadLetters = await readToEnd(`${input}.dlq`);
    expect(deadLetters).to.have.length(1);
    expect(deadLetters[0]!.key).to.equal('k15');
    expect(deadLetters[0]!.value).to.equal('{not json');
  });

  it('two instances split the partitions and each answers for any key; when one stops the other takes over, counting nothing twice', async () => {
    const perKey = 10;
    const input = uniqueName('streams-two-in');
    const output = uniqueName('streams-two-out');
    await createTopics([input, output], 3);
    await produceCounted(input, perKey);
    const applicationId = uniqueName('streams-two');
    const [portA, portB] = [await freePort(), await freePort()];
    const a = await startCounting(streamsConfig(applicationId, stateDir(), 'exactly_once', `  application.server: 127.0.0.1:${portA}\n`), input, output);
    let b: LightService | undefined;
    try {
      b = await startCounting(streamsConfig(applicationId, stateDir(), 'exactly_once', `  application.server: 127.0.0.1:${portB}\n`), input, output);
      const local = (service: LightService): number => service.streams.store('counts').approximateCount();
      await waitFor(() => local(a) > 0 && local(b!) > 0 && local(a) + local(b!) === KEYS, 90_000, 'both instances own part of the keys');
      const answeredBy = new Set<string>();
      for (let k = 0; k < KEYS; k++) {
        for (const port of [portA, portB]) {
          const result = await queryOver(port, `k${k}`);
          expect(result.value, `k${k} asked on ${port}`).to.equal(perKey);
          answeredBy.add(result.answeredBy);
        }
      }
      expect([...answeredBy].sort()).to.deep.equal([`127.0.0.1:${portA}`, `127.0.0.1:${portB}`].sort());
      // A window store's keys (<key>@<window start>) are routed by their record key.
      // A window store's values are { value, timestamp }: the count, and the newest record timestamp in the window.
      const windows = [...a.streams.store<{ value: number; timestamp: number }>('hourly').all(), ...b.streams.store<{ value: number; timestamp: number }>('hourly').all()];
      expect(windows.reduce((sum, { value }) => sum + value.value, 0)).to.equal(KEYS * perKey);
      for (const { key, value } of windows) {
        for (const port of [portA, portB]) {
          const response = await fetch(`http://127.0.0.1:${port}/streams/stores/hourly/keys/${encodeURIComponent(key)}`);
          expect(((await response.json()) as { value?: unknown }).value, `${key} asked on ${port}`).to.deep.equal(value);
        }
      }
      expect((await a.streams.query('counts', 'k0')).value).to.equal(perKey);

      await b.stop();
      b = undefined;
      await produceCounted(input, perKey);
      await waitFor(() => [...storeCounts(a).values()].filter((count) => count >= 2 * perKey).length === KEYS, 90_000, 'the survivor counted every key on');
      for (const [key, count] of storeCounts(a)) expect(count, key).to.equal(2 * perKey);
      for (let k = 0; k < KEYS; k++) expect((await queryOver(portA, `k${k}`)).value).to.equal(2 * perKey);
    } finally {
      await b?.stop();
      await a.stop();
    }
    const perKeyOutput = countsPerKey(await readToEnd(output));
    for (const [key, updates] of perKeyOutput) expect(updates.map(({ count }) => count), key).to.deep.equal(Array.from({ length: 2 * perKey }, (_, i) => i + 1));
  });

  it('re-keys orders by customer through a repartition topic, joins them with a customers table and sums revenue per customer, exactly once', async () => {
    const orders = uniqueName('streams-orders');
    const customers = uniqueName('streams-customers');
    const output = uniqueName('streams-revenue');
    await createTopics([orders, customers, output], 3);
    await produceRaw(customers, Array.from({ length: 10 }, (_, c) => ({ key: `c${c}`, value: JSON.stringify({ name: `customer ${c}`, vip: c % 2 === 0 }) })));
    // 300 orders keyed by order id; customer c10 is not in the table (dropped by the inner join).
    const expected = new Map<string, number>();
    const records = Array.from({ length: 300 }, (_, n) => {
      const customer = `c${n % 11}`;
      if (customer !== 'c10') expected.set(customer, (expected.get(customer) ?? 0) + n);
      return { key: `order-${n}`, value: JSON.stringify({ customer, total: n }), headers: { 'X-Correlation-Id': `order-${n}` } };
    });
    const dir = streamsConfig(uniqueName('streams-join'), stateDir(), 'exactly_once');
    const service = await LightService.create({ configDir: dir });
    const builder = service.streams.builder();
    const table = builder.table<string, { name: string; vip: boolean }>(customers, { store: 'customers' });
    builder
      .stream<string, { customer: string; total: number }>(orders)
      .selectKey((_key, order) => order.customer)
      .join(table, (order, customer) => ({ total: order.total, vip: customer.vip }))
      .groupByKey()
      .aggregate(() => 0, (_key, order, sum) => sum + order.total, { store: 'revenue' })
      .toStream()
      .to(output);
    await service.start();
    try {
      await waitFor(() => service.streams.store('customers').approximateCount() === 10, 60_000, 'the customers table loaded');
      await produceRaw(orders, records);
      const revenue = (): Map<string, unknown> => new Map(service.streams.store('revenue').all().map(({ key, value }) => [key, value]));
      await waitFor(() => [...expected].every(([customer, sum]) => revenue().get(customer) === sum), 60_000, 'revenue summed for every customer');
      expect(revenue().size).to.equal(10);
      expect(revenue().has('c10')).to.equal(false);
    } finally {
      await service.stop();
    }
    const updates = await readToEnd(output);
    expect(updates).to.have.length(300 - records.filter((record) => record.value.includes('"c10"')).length);
    // An update carries the correlation id of the order that caused it, across the repartition topic.
    for (const update of updates.slice(0, 20)) expect(String(update.headers['X-Correlation-Id'] ?? update.headers['x-correlation-id'])).to.match(/^order-\d+$/);
  });

  it('a task that cannot open while its partition has nothing new to read opens on its own once it can (retried with back-off)', async () => {
    const perKey = 5;
    const input = uniqueName('streams-reopen-in');
    const output = uniqueName('streams-reopen-out');
    await createTopics([input, output], 3);
    await produceCounted(input, perKey);
    const state = stateDir();
    const applicationId = uniqueName('streams-reopen');
    const dir = streamsConfig(applicationId, state, 'exactly_once');
    const first = await startCounting(dir, input, output);
    try {
      await waitFor(() => [...storeCounts(first).values()].filter((count) => count === perKey).length === KEYS, 60_000, 'every key counted');
    } finally {
      await first.stop();
    }
    // The input is drained. One task's store folder is made a file: its store cannot open at the next start.
    const tasks = readdirSync(join(state, applicationId), { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
    expect(tasks).to.have.length(3);
    const blocked = join(state, applicationId, tasks[0]!);
    rmSync(blocked, { recursive: true, force: true });
    writeFileSync(blocked, 'not a folder');
    const second = await startCounting(dir, input, output);
    try {
      // Both other tasks open (their stores restored), the blocked one not: then the readable keys are all of theirs.
      await waitFor(() => second.streams.localTasks().filter((task) => task.open).length === 2, 30_000, 'the other tasks opened');
      const readable = [...storeCounts(second).keys()];
      expect(readable.length, 'keys readable while one task cannot open').to.be.below(KEYS);
      // The other partitions go on while that task cannot open: one more record for each of their keys is counted.
      await produceRaw(input, readable.map((key) => ({ key, value: JSON.stringify({ n: perKey }) })));
      await waitFor(() => readable.every((key) => storeCounts(second).get(key) === perKey + 1), 30_000, 'the other partitions counted on');
      expect(storeCounts(second).size, 'the blocked task is still not open').to.equal(readable.length);
      rmSync(blocked, { force: true });
      // No record comes for the blocked partition: only a retry opens its task.
      await waitFor(() => storeCounts(second).size === KEYS, 30_000, 'the blocked task opened once its folder could be made');
      for (const [key, count] of storeCounts(second)) expect(count, key).to.equal(readable.includes(key) ? perKey + 1 : perKey);
    } finally {
      await second.stop();
    }
  });

  it('commits every commit.interval.ms inside a long backlog, not once at its end', async () => {
    const perKey = 200;
    const input = uniqueName('streams-backlog-in');
    const output = uniqueName('streams-backlog-out');
    await createTopics([input, output], 1);
    await produceCounted(input, perKey);
    const applicationId = uniqueName('streams-backlog');
    const service = await LightService.create({ configDir: streamsConfig(applicationId, stateDir(), 'exactly_once') });
    // 1 ms of work per record, whatever the machine: the 6,000-record backlog takes at least 6 s, in fetched batches of
    // thousands (kafkajs) or one batch of all of it (librdkafka), and commit.interval.ms is 100.
    const pause = new Int32Array(new SharedArrayBuffer(4));
    service.streams
      .builder()
      .stream<string, { n: number }>(input)
      .peek(() => void Atomics.wait(pause, 0, 0, 1))
      .groupByKey()
      .count({ store: 'counts' })
      .toStream()
      .to(output);
    await service.start();
    const admin = new Kafka({ brokers: brokers(), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const seen = new Set<string>();
    const started = Date.now();
    let took = 0;
    try {
      // Every committed offset the group shows while the backlog is worked off.
      for (const deadline = Date.now() + 90_000; ; ) {
        // The group's coordinator may still be loading (NOT_COORDINATOR, retriable): asked again.
        const [committed] = await retryTransient(() => admin.fetchOffsets({ groupId: applicationId, topics: [input] }), 30_000, () => undefined);
        const offset = committed?.partitions[0]?.offset ?? '-1';
        if (offset !== '-1') seen.add(offset);
        if (Number(offset) >= KEYS * perKey) break;
        if (Date.now() > deadline) throw new Error(`the backlog was not committed within 90 s (at ${offset})`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      took = Date.now() - started;
    } finally {
      await admin.disconnect();
      await service.stop();
    }
    // About one commit per 100 ms of the 6+ s: at least 20 seen (a commit only at the end of each fetched batch: 1-4).
    expect(seen.size, `committed offsets seen in ${took} ms: ${[...seen].join(', ')}`).to.be.at.least(20);
  });
});
