// Joins on a real broker: a stream-stream join under exactly_once across a SIGKILL and a restart without its local
// state (its window stores restored from their changelogs), and a GlobalKTable on two instances (restored before the first
// record is processed, kept up to date while running, whole on each instance). Both transports (SERVICE_TRANSPORT).
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { LightService } from '../../index.js';
import { joinTopology } from '../fixtures/streams/join-topology.js';
import { streamsServiceConfig } from '../support/config-dir.js';
import { Kafka, logLevel } from 'kafkajs';
import { brokers, createTopics, readToEnd, uniqueName, waitFor } from '../support/kafka.js';

/**
 * Sends records once each, with an idempotent producer: a plain producer's retry on a busy broker can write a record
 * twice, and a join would rightly join each copy.
 */
async function produceOnce(topic: string, messages: { key: string; value: string | null }[]): Promise<void> {
  const producer = new Kafka({ brokers: brokers(), logLevel: logLevel.NOTHING }).producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}

/** The sum of a topic's end offsets (records and transaction markers): a cheap sign of progress. */
async function endOffsetSum(topic: string): Promise<number> {
  const admin = new Kafka({ brokers: brokers(), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((sum, { high }) => sum + Number(high), 0);
  } finally {
    await admin.disconnect();
  }
}

function streamsConfig(applicationId: string, stateDir: string): string {
  return streamsServiceConfig('streams-joins-test', applicationId, stateDir);
}

describe('LightStreams joins @broker', function () {
  this.timeout(240_000);
  const folders: string[] = [];
  const stateDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'light-kafka-joins-'));
    folders.push(dir);
    return dir;
  };
  after(() => folders.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  it('exactly_once: a stream-stream join killed with SIGKILL mid-stream, restarted without its local state, writes each join result once', async () => {
    const pairs = 400;
    const orders = uniqueName('join-orders');
    const payments = uniqueName('join-payments');
    const output = uniqueName('join-out');
    await createTopics([orders, payments, output], 3);
    await produceOnce(orders, Array.from({ length: pairs }, (_, n) => ({ key: `o${n}`, value: JSON.stringify({ n }) })));
    const applicationId = uniqueName('streams-join-eos');
    const state = stateDir();
    const config = streamsConfig(applicationId, state);
    const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist', 'test', 'fixtures', 'streams', 'join-process.js'), config, orders, payments, output], {
      env: { ...process.env, LOG_LEVEL: 'error' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    let produced = 0;
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('started') && resolve());
        child.once('exit', (code) => reject(new Error(`the joining process exited (${code}) before it started`)));
      });
      // The payments trickle in while the child joins them; it is killed once some results are committed. The last
      // batch is held back until then (however slow the machine), so the kill always comes mid-stream.
      const deadline = Date.now() + 60_000;
      while ((await endOffsetSum(output)) < 100) {
        if (Date.now() > deadline) throw new Error(`the joining process committed fewer than 100 results within 60 s (${produced} payments sent)`);
        if (produced < pairs - 25) {
          await produceOnce(payments, Array.from({ length: 25 }, (_, i) => ({ key: `o${produced + i}`, value: JSON.stringify({ n: (produced + i) * 10 }) })));
          produced += 25;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      child.kill('SIGKILL');
    }
    await exited;
    // Killed mid-stream: outputs were written, and not all payments were even there yet. (Its open transaction keeps
    // read_committed readers of the output waiting until the restart aborts it, so nothing is read here.)
    expect(produced, 'payments produced before the kill').to.be.below(pairs);
    await produceOnce(payments, Array.from({ length: pairs - produced }, (_, i) => ({ key: `o${produced + i}`, value: JSON.stringify({ n: (produced + i) * 10 }) })));

    // The tasks' local state is lost: the orders buffered before the kill come back from the window stores'
    // changelogs. (The process id stays: librdkafka's transactional id, whose open transaction the restart aborts.)
    const tasks = readdirSync(join(state, applicationId), { withFileTypes: true }).filter((entry) => entry.isDirectory());
    expect(tasks.length, 'task folders left by the killed process').to.be.above(0);
    for (const task of tasks) rmSync(join(state, applicationId, task.name), { recursive: true, force: true });
    const service = await LightService.create({ configDir: config });
    joinTopology(service, orders, payments, output);
    await service.start();
    try {
      await waitFor(async () => (await readToEnd(output)).length >= pairs, 90_000, `${pairs} join results`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    } finally {
      await service.stop();
    }
    const results = await readToEnd(output);
    const byKey = new Map<string, unknown[]>();
    for (const record of results) byKey.set(record.key!, [...(byKey.get(record.key!) ?? []), JSON.parse(record.value!)]);
    expect(results, 'read_committed join results').to.have.length(pairs);
    for (let n = 0; n < pairs; n++) expect(byKey.get(`o${n}`), `o${n}`).to.deep.equal([{ order: n, payment: n * 10 }]);
  });

  it('a GlobalKTable: restored before the first record is processed, updated while running, whole on each of two instances', async () => {
    const customers = uniqueName('global-customers');
    const orders = uniqueName('global-orders');
    const output = uniqueName('global-out');
    await createTopics([customers], 2);
    await createTopics([orders, output], 3);
    await produceOnce(customers, Array.from({ length: 40 }, (_, c) => ({ key: `c${c}`, value: JSON.stringify({ name: `customer ${c}` }) })));
    // Orders are there before the streams start: the very first ones processed must see the whole table.
    await produceOnce(orders, Array.from({ length: 60 }, (_, n) => ({ key: `order-${n}`, value: JSON.stringify({ n, customer: `c${n % 40}` }) })));
    const applicationId = uniqueName('streams-global');
    const start = async (dir: string): Promise<LightService> => {
      const service = await LightService.create({ configDir: dir });
      const builder = service.streams.builder();
      const table = builder.globalTable<string, { name: string }>(customers, { store: 'customers' });
      builder
        .stream<string, { n: number; customer: string }>(orders)
        .leftJoin(table, (_key, order) => order.customer, (order, customer) => ({ n: order.n, customer: order.customer, name: customer?.name ?? null }))
        .to(output);
      await service.start();
      return service;
    };
    const dirs = [streamsConfig(applicationId, stateDir()), streamsConfig(applicationId, stateDir())];
    let first = await start(dirs[0]!);
    const second = await start(dirs[1]!);
    try {
      for (const service of [first, second]) expect(service.streams.store('customers').approximateCount(), 'each instance holds the whole table once started').to.equal(40);
      await waitFor(async () => (await readToEnd(output)).length >= 60, 60_000, '60 enriched orders');
      const enriched = (await readToEnd(output)).map((record) => JSON.parse(record.value!) as { n: number; customer: string; name: string | null });
      expect(enriched).to.have.length(60);
      for (const order of enriched) expect(order.name, `order ${order.n}`).to.equal(`customer ${order.n % 40}`);

      // While running: an update, a deletion and a new customer reach both instances' tables.
      await produceOnce(customers, [
        { key: 'c0', value: JSON.stringify({ name: 'renamed' }) },
        { key: 'c1', value: null },
        { key: 'c99', value: JSON.stringify({ name: 'customer 99' }) },
      ]);
      for (const service of [first, second]) {
        const store = service.streams.store<{ name: string }>('customers');
        await waitFor(() => store.get('c0')?.name === 'renamed' && store.get('c1') === undefined && store.get('c99') !== undefined, 30_000, 'the updates on each instance');
        expect(store.approximateCount()).to.equal(40);
        expect((await service.streams.query('customers', 'c0')).value).to.deep.equal({ name: 'renamed' });
      }
      await produceOnce(orders, ['c0', 'c1', 'c99'].map((customer, i) => ({ key: `late-${i}`, value: JSON.stringify({ n: 100 + i, customer }) })));
      await waitFor(async () => (await readToEnd(output)).length >= 63, 60_000, '3 more enriched orders');
      const late = (await readToEnd(output)).map((record) => JSON.parse(record.value!) as { n: number; name: string | null }).filter(({ n }) => n >= 100).sort((a, b) => a.n - b.n);
      expect(late.map(({ name }) => name)).to.deep.equal(['renamed', null, 'customer 99']);

      // A restart goes on from the store's checkpoint: whole again before start() returns.
      await first.stop();
      first = await start(dirs[0]!);
      expect(first.streams.store<{ name: string }>('customers').get('c0')?.name).to.equal('renamed');
      expect(first.streams.store('customers').approximateCount()).to.equal(40);
    } finally {
      await Promise.allSettled([first.stop(), second.stop()]);
    }
  });
});
