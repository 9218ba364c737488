import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../core/logger.js';
import { DELETED, LmdbTaskStorage, MemoryTaskStorage, type TaskStorage } from '../../core/streams/stores.js';
import { windowedKeyString } from '../../core/streams/windows.js';
import { TopologyTestDriver } from '../../testing/index.js';
import { StreamsBuilder, TimeWindows, windowKey, type ProcessorContext, type ProcessorStore, type StreamRecord, type Topology } from '../../core/streams/topology.js';
import { LightError } from '../../core/errors/light-error.js';

/** Runs records through a topology's source with plain in-memory stores, collecting what it sends. */
function run(topology: Topology, topic: string, records: [unknown, unknown][]): { sent: { topic: string; key: unknown; value: unknown }[]; stores: Map<string, Map<unknown, unknown>> } {
  const stores = new Map<string, Map<unknown, unknown>>();
  const sent: { topic: string; key: unknown; value: unknown }[] = [];
  const context: ProcessorContext = {
    streamTime: () => -1,
    store(name: string): ProcessorStore {
      if (!stores.has(name)) stores.set(name, new Map());
      const map = stores.get(name)!;
      return { get: (key) => map.get(key), put: (key, value) => void map.set(key, value), delete: (key) => void map.delete(key) };
    },
    send(to: string, record: StreamRecord<unknown, unknown>) {
      sent.push({ topic: to, key: record.key, value: record.value });
    },
  };
  const source = topology.sources.find((candidate) => candidate.topic === topic)!;
  for (const [key, value] of records) source.process({ key, value, timestamp: '0' }, context);
  return { sent, stores };
}

const silent = createLogger({ level: 'error' } as never);

describe('streams topology DSL', () => {
  it('runs stateless operations in order and sends to a fixed or a per-record topic', () => {
    const builder = new StreamsBuilder();
    builder
      .stream<string, number>('in')
      .filter((_key, value) => value > 0)
      .mapValues((value) => value * 10)
      .flatMapValues((value) => [value, value + 1])
      .peek(() => undefined)
      .to((_key, value) => (value % 2 === 0 ? 'even' : 'odd'));
    const { sent } = run(builder.build(), 'in', [['a', 1], ['b', -1], ['c', 2]]);
    expect(sent).to.deep.equal([
      { topic: 'even', key: 'a', value: 10 },
      { topic: 'odd', key: 'a', value: 11 },
      { topic: 'even', key: 'c', value: 20 },
      { topic: 'odd', key: 'c', value: 21 },
    ]);
  });

  it('branches a record to the first matching predicate only, and merges streams back', () => {
    const builder = new StreamsBuilder();
    const [small, large] = builder.stream<string, number>('in').branch((_k, v) => v < 10, (_k, v) => v < 100);
    small!.to('small');
    large!.mapValues((v) => -v).merge(small!.mapValues((v) => v * 2)).to('merged');
    const { sent } = run(builder.build(), 'in', [['a', 5], ['b', 50], ['c', 500]]);
    expect(sent).to.deep.equal([
      { topic: 'small', key: 'a', value: 5 },
      { topic: 'merged', key: 'a', value: 10 },
      { topic: 'merged', key: 'b', value: -50 },
    ]);
  });

  it('counts, reduces and aggregates per key into named stores, skipping null keys, and streams each update', () => {
    const builder = new StreamsBuilder();
    const grouped = builder.stream<string | null, number>('in').groupByKey();
    grouped.count({ store: 'count' }).toStream().to('counts');
    grouped.reduce((sum, value) => sum + value, { store: 'sum' });
    grouped.aggregate(() => [] as number[], (_key, value, list) => [...list, value], { store: 'list' });
    const { sent, stores } = run(builder.build(), 'in', [['a', 1], ['b', 2], ['a', 3], [null, 9]]);
    expect(sent).to.deep.equal([
      { topic: 'counts', key: 'a', value: 1 },
      { topic: 'counts', key: 'b', value: 1 },
      { topic: 'counts', key: 'a', value: 2 },
    ]);
    expect([...stores.get('count')!]).to.deep.equal([['a', 2], ['b', 1]]);
    expect([...stores.get('sum')!]).to.deep.equal([['a', 4], ['b', 2]]);
    expect([...stores.get('list')!]).to.deep.equal([['a', [1, 3]], ['b', [2]]]);
  });

  it('refuses, with the reason, a store declared twice, a topic read twice, a pattern with a store, and changes after build', () => {
    const builder = new StreamsBuilder();
    const stream = builder.stream<string, number>('in');
    stream.groupByKey().count({ store: 'c' });
    expect(() => stream.groupByKey().count({ store: 'c' })).to.throw(LightError, /declared twice/);
    expect(() => builder.stream('in')).to.throw(LightError, /is read twice/);
    builder.build();
    expect(() => stream.to('out')).to.throw(LightError, /cannot change once the streams started/);
    const patterned = new StreamsBuilder();
    patterned.stream(/orders-.*/).groupByKey().count({ store: 'p' });
    expect(() => patterned.build()).to.throw(LightError, /pattern/);
  });

  it('repartitions a re-keyed stream before grouping it: the records go to an internal topic and are counted when read back', () => {
    const builder = new StreamsBuilder('app');
    builder
      .stream<string, { customer: string }>('orders')
      .groupBy((_key, order) => order.customer)
      .count({ store: 'per-customer' });
    const topology = builder.build();
    expect(topology.repartitionTopics.map(({ topic, upstream }) => [topic, upstream.map((source) => source.topic)])).to.deep.equal([['app-per-customer-repartition', ['orders']]]);
    const first = run(topology, 'orders', [['o1', { customer: 'c1' }], ['o2', { customer: 'c2' }], ['o3', { customer: 'c1' }]]);
    expect(first.sent.map(({ topic, key }) => [topic, key])).to.deep.equal([
      ['app-per-customer-repartition', 'c1'],
      ['app-per-customer-repartition', 'c2'],
      ['app-per-customer-repartition', 'c1'],
    ]);
    const second = run(topology, 'app-per-customer-repartition', first.sent.map(({ key, value }) => [key, value]));
    expect([...second.stores.get('per-customer')!]).to.deep.equal([['c1', 2], ['c2', 1]]);
    // The store belongs to the repartition topic's tasks, the orders topic is a group of its own.
    expect(topology.groups.map((group) => [group.name, group.stores])).to.deep.equal([['orders', []], ['app-per-customer-repartition', ['per-customer']]]);
  });

  it('joins a stream with a table fed from its topic (inner and left), and puts both sources in one task group', () => {
    const builder = new StreamsBuilder('app');
    const customers = builder.table<string, { name: string }>('customers', { store: 'customers' });
    const orders = builder.stream<string, { total: number }>('orders');
    orders.join(customers, (order, customer) => `${customer.name}:${order.total}`).to('joined');
    orders.leftJoin(customers, (order, customer) => `${customer?.name ?? '?'}:${order.total}`).to('left');
    const topology = builder.build();
    expect(topology.groups.map((group) => [group.sources.map((source) => source.topic).sort(), group.stores])).to.deep.equal([[['customers', 'orders'], ['customers']]]);
    // One context shared by both sources, as one task gives them.
    const stores = new Map<string, Map<unknown, unknown>>();
    const sent: [string, unknown, unknown][] = [];
    const context: ProcessorContext = {
      streamTime: () => -1,
      store(name) {
        if (!stores.has(name)) stores.set(name, new Map());
        const map = stores.get(name)!;
        return { get: (key) => map.get(key), put: (key, value) => void map.set(key, value), delete: (key) => void map.delete(key) };
      },
      send: (topic, record) => void sent.push([topic, record.key, record.value]),
    };
    const source = (topic: string) => topology.sources.find((candidate) => candidate.topic === topic)!;
    source('customers').process({ key: 'c1', value: { name: 'Ann' }, timestamp: '0' }, context);
    source('orders').process({ key: 'c1', value: { total: 5 }, timestamp: '0' }, context);
    source('orders').process({ key: 'c2', value: { total: 7 }, timestamp: '0' }, context);
    source('customers').process({ key: 'c1', value: null, timestamp: '0' }, context);
    source('orders').process({ key: 'c1', value: { total: 9 }, timestamp: '0' }, context);
    expect(sent).to.deep.equal([
      ['joined', 'c1', 'Ann:5'],
      ['left', 'c1', 'Ann:5'],
      ['left', 'c2', '?:7'],
      ['left', 'c1', '?:9'],
    ]);
  });

  it('counts per key in tumbling windows into a window store keyed <key>@<window start>, streaming updates keyed { key, start, end }', () => {
    const builder = new StreamsBuilder();
    const table = builder.stream<string, number>('clicks').groupByKey().windowedBy(TimeWindows.ofSizeMs(1000)).count({ store: 'clicks-per-second' });
    table.toStream().to('counts');
    table.toStream().selectKey(windowedKeyString).to('counts-by-string');
    const driver = new TopologyTestDriver(builder.build());
    for (const [key, time] of [['a', 1500], ['a', 1999], ['a', 2000], ['b', 1000]] as const) driver.pipe('clicks', 1, key, String(time));
    expect(driver.store('clicks-per-second').all()).to.deep.equal([
      [windowKey('a', 1000), { value: 2, timestamp: 1999 }],
      [windowKey('a', 2000), { value: 1, timestamp: 2000 }],
      [windowKey('b', 1000), { value: 1, timestamp: 1000 }],
    ]);
    expect(driver.output('counts')[1]).to.deep.equal({ key: { key: 'a', start: 1000, end: 2000 }, value: 2, timestamp: '1999' });
    expect(driver.output('counts-by-string').map(({ key }) => key)).to.deep.equal(['a@0000000001000', 'a@0000000001000', 'a@0000000002000', 'b@0000000001000']);
    expect(windowKey('a', 1000)).to.equal('a@0000000001000');
  });
});

describe('streams task storage', () => {
  const folders: string[] = [];
  after(() => folders.forEach((folder) => rmSync(folder, { recursive: true, force: true })));
  const folder = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'light-kafka-store-'));
    folders.push(dir);
    return join(dir, 'task');
  };

  for (const [name, make] of [
    ['memory', () => new MemoryTaskStorage()],
    ['lmdb', () => new LmdbTaskStorage(folder(), silent)],
  ] as [string, () => TaskStorage][]) {
    it(`${name}: applies writes and deletes with a checkpoint, and scans ranges and prefixes in key order`, () => {
      const storage = make();
      storage.apply('s', new Map<string, unknown>([['b', 2], ['a', { x: 1 }], ['ab', 3], ['c', 4]]), '10');
      storage.apply('s', new Map<string, unknown>([['c', DELETED]]), undefined);
      expect(storage.get('s', 'a')).to.deep.equal({ x: 1 });
      expect(storage.get('s', 'c')).to.equal(undefined);
      expect(storage.checkpoint('s')).to.equal('10');
      expect(storage.range('s', {}).map(({ key }) => key)).to.deep.equal(['a', 'ab', 'b']);
      expect(storage.range('s', { prefix: 'a' }).map(({ key }) => key)).to.deep.equal(['a', 'ab']);
      expect(storage.range('s', { start: 'ab', end: 'b' }).map(({ key }) => key)).to.deep.equal(['ab']);
      storage.clear('s');
      expect(storage.range('s', {})).to.deep.equal([]);
      expect(storage.checkpoint('s')).to.equal(undefined);
      storage.close();
    });
  }

  it('lmdb: keeps entries and checkpoint across a reopen', () => {
    const dir = folder();
    const first = new LmdbTaskStorage(dir, silent);
    first.apply('s', new Map([['k', 1]]), '5');
    first.close();
    const reopened = new LmdbTaskStorage(dir, silent);
    expect(reopened.get('s', 'k')).to.equal(1);
    expect(reopened.checkpoint('s')).to.equal('5');
    reopened.close();
  });
});
