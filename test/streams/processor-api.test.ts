import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { plainCommitter } from '../../core/kafka/streams-clients.js';
import type { DriverMessage } from '../../core/kafka/driver.js';
import { createLogger } from '../../core/logger.js';
import { MemoryTaskStorage } from '../../core/streams/stores.js';
import { StreamTask } from '../../core/streams/task.js';
import { LightService, StreamsBuilder, windowKey, type Processor, type ProcessorApiContext, type ProcessorRecord, type ProcessorWindowStore } from '../../index.js';
import { TopologyTestDriver } from '../../testing/index.js';
import { configDir, consumerYml, producerYml, serviceYml } from '../support/config-dir.js';
import { createTopics, produceRaw, readToEnd, uniqueName, waitFor } from '../support/kafka.js';

/** Forwards a key once per `ttlMs` of wall-clock time: a wall-clock punctuation forgets keys seen longer ago. */
class Deduplicate implements Processor<string, unknown, string, unknown> {
  private context!: ProcessorApiContext<string, unknown>;
  closed = false;

  constructor(private readonly ttlMs: number) {}

  init(context: ProcessorApiContext<string, unknown>): void {
    this.context = context;
    context.schedule(1000, 'wall-clock-time', (now) => {
      const seen = context.getStateStore<number>('seen');
      for (const { key, value } of seen.all()) if (now - value >= this.ttlMs) seen.delete(key);
    });
  }

  process(record: ProcessorRecord<string, unknown>): void {
    const seen = this.context.getStateStore<number>('seen');
    if (seen.get(record.key) !== undefined) return;
    seen.put(record.key, this.context.currentSystemTimeMs());
    this.context.forward(record);
  }

  close(): void {
    this.closed = true;
  }
}

describe('Processor API (KStream.process) on the TopologyTestDriver', () => {
  it('deduplicates with a TTL: a store per task, a wall-clock punctuation that expires keys, close() with the task', () => {
    const builder = new StreamsBuilder('dedup');
    const instances: Deduplicate[] = [];
    builder
      .stream<string, unknown>('events')
      .process(() => {
        const processor = new Deduplicate(5000);
        instances.push(processor);
        return processor;
      }, { stores: ['seen'] })
      .to('unique');
    const driver = new TopologyTestDriver(builder.build(), { wallClockMs: 0 });
    driver.pipe('events', 1, 'a', '100').pipe('events', 2, 'a', '200').pipe('events', 3, 'b', '300');
    expect(driver.output('unique').map(({ key, value, timestamp }) => [key, value, timestamp])).to.deep.equal([
      ['a', 1, '100'],
      ['b', 3, '300'],
    ]);
    driver.advanceWallClockTime(4000).pipe('events', 4, 'a', '400');
    expect(driver.output('unique')).to.have.length(2);
    driver.advanceWallClockTime(2000).pipe('events', 5, 'a', '500');
    expect(driver.output('unique').map(({ value }) => value)).to.deep.equal([1, 3, 5]);
    expect(instances, 'one instance for the one task').to.have.length(1);
    driver.close();
    expect(instances[0]!.closed).to.equal(true);
  });

  it('stream-time punctuations run as records move stream time, skipping missed intervals; forwarded records get the punctuation time', () => {
    const builder = new StreamsBuilder('ticks');
    builder
      .stream<string, number>('in')
      .process<string, number>(() => ({
        init(context: ProcessorApiContext<string, number>) {
          context.schedule(1000, 'stream-time', (time) => context.forward({ key: 'tick', value: time }));
        },
        process() {},
      }))
      .to('ticks');
    const driver = new TopologyTestDriver(builder.build());
    for (const time of [0, 500, 1200, 1300, 900, 5000]) driver.pipe('in', time, 'k', String(time));
    // Due at the first record (aligned to 0), then 1000 after: 1200 runs it; 5000 (missing 2200..4200) runs it once.
    expect(driver.output('ticks').map(({ value, timestamp }) => [value, timestamp])).to.deep.equal([
      [0, '0'],
      [1200, '1200'],
      [5000, '5000'],
    ]);
  });

  it('gives the record metadata and headers, forwards to every child or one named child, and cancels a schedule', () => {
    const builder = new StreamsBuilder('route');
    const seen: unknown[] = [];
    const routed = builder.stream<string, number>('numbers').process<string, number>(() => {
      let context!: ProcessorApiContext<string, number>;
      return {
        init(given) {
          context = given;
          const cancellable = context.schedule(1, 'stream-time', () => seen.push('tick'));
          cancellable.cancel();
        },
        process(record) {
          seen.push(context.recordMetadata());
          if (record.value < 0) context.forward({ ...record, value: -record.value }, 'negative');
          else context.forward({ key: record.key, value: record.value * 10, timestamp: 42 });
        },
      };
    });
    routed.to('all');
    routed.child('negative').to('negatives');
    const driver = new TopologyTestDriver(builder.build());
    driver.pipe('numbers', 1, 'k', '1000', { 'X-Correlation-Id': 'c-1' }).pipe('numbers', -2, 'k', '2000');
    expect(seen).to.deep.equal([
      { topic: 'numbers', partition: 0, offset: '0', headers: { 'X-Correlation-Id': 'c-1' } },
      { topic: 'numbers', partition: 0, offset: '1', headers: {} },
    ]);
    // Without a name: to the default child and the named ones; with a name: that child only.
    expect(driver.output('all').map(({ value, timestamp }) => [value, timestamp])).to.deep.equal([[10, '42']]);
    expect(driver.output('negatives').map(({ value, timestamp }) => [value, timestamp])).to.deep.equal([
      [10, '42'],
      [2, '2000'],
    ]);
  });

  it('a window store: values per key and window start, ranges in start order, windows past their retention gone', () => {
    const builder = new StreamsBuilder('windowed');
    const ranges: unknown[] = [];
    builder
      .stream<string, number>('clicks')
      .process<string, number>(() => {
        let context!: ProcessorApiContext<string, number>;
        return {
          init(given) {
            context = given;
          },
          process(record) {
            const windows = context.getWindowStore<number>('per-second');
            const start = record.timestamp - (record.timestamp % 1000);
            windows.put(record.key, start, (windows.fetch(record.key, start) ?? 0) + record.value);
            ranges.push(windows.fetchRange(record.key, 0, 10_000));
          },
        };
      }, { windowStores: [{ name: 'per-second', windowSizeMs: 1000, retentionMs: 2000 }] });
    const driver = new TopologyTestDriver(builder.build());
    driver.pipe('clicks', 1, 'a', '100').pipe('clicks', 2, 'a', '900').pipe('clicks', 5, 'a', '1500').pipe('clicks', 7, 'a', '4100');
    expect(ranges).to.deep.equal([
      [{ windowStart: 0, value: 1 }],
      [{ windowStart: 0, value: 3 }],
      [{ windowStart: 0, value: 3 }, { windowStart: 1000, value: 5 }],
      // At stream time 4100 the window [0, 1000) is past end + retention (3000): gone; [1000, 2000) is kept until 4000.
      [{ windowStart: 4000, value: 7 }],
    ]);
    expect(driver.store('per-second').all().map(([key]) => key)).to.not.include('a@0000000000000');
  });

  it('a window store handle kept from init() sees stream time move on: windows past their retention expire and are swept', () => {
    const builder = new StreamsBuilder('windowed-handle');
    const ranges: unknown[] = [];
    builder.stream<string, number>('clicks').process<string, number>(() => {
      let windows!: ProcessorWindowStore<number>;
      return {
        init(context) {
          windows = context.getWindowStore<number>('per-second');
        },
        process(record) {
          const start = record.timestamp - (record.timestamp % 1000);
          windows.put(record.key, start, (windows.fetch(record.key, start) ?? 0) + record.value);
          ranges.push(windows.fetchRange(record.key, 0, 100_000).map(({ windowStart }) => windowStart));
        },
      };
    }, { windowStores: [{ name: 'per-second', windowSizeMs: 1000, retentionMs: 2000 }] });
    const driver = new TopologyTestDriver(builder.build());
    for (const time of [100, 900, 1500, 4100, 50_000]) driver.pipe('clicks', 1, 'a', String(time));
    expect(ranges).to.deep.equal([[0], [0], [0, 1000], [4000], [50_000]]);
    expect(driver.store('per-second').all().map(([key]) => key)).to.deep.equal([windowKey('a', 50_000)]);
    // A window already past its retention is not written (and is counted).
    driver.pipe('clicks', 1, 'a', '100');
    expect(driver.store('per-second').all()).to.have.length(1);
    expect(driver.droppedRecords('expired-window', 'per-second')).to.equal(1);
  });

  it('a processor whose init() throws is not kept: the next record makes and initialises a new one', () => {
    const builder = new StreamsBuilder('init-fails');
    let attempts = 0;
    builder.stream<string, number>('in').process<string, number>(() => {
      let context!: ProcessorApiContext<string, number>;
      return {
        init(given) {
          attempts += 1;
          given.schedule(1, 'stream-time', () => given.forward({ key: 'tick', value: attempts }));
          if (attempts === 1) throw new Error('not ready yet');
          context = given;
        },
        process(record) {
          context.forward(record);
        },
      };
    }).to('out');
    const driver = new TopologyTestDriver(builder.build());
    expect(() => driver.pipe('in', 1, 'k', '10')).to.throw(/not ready yet/);
    driver.pipe('in', 2, 'k', '20');
    // The first init's schedule was cancelled with it: only the second's ticks.
    expect(driver.output('out').map(({ key, value }) => [key, value])).to.deep.equal([['k', 2], ['tick', 2]]);
  });

  it('cancelling a schedule twice leaves the others alone', () => {
    const builder = new StreamsBuilder('cancel-twice');
    const ticks: string[] = [];
    const stream = builder.stream<string, number>('in');
    stream.process(() => ({
      init(context: ProcessorApiContext) {
        const cancellable = context.schedule(1, 'stream-time', () => ticks.push('first'));
        cancellable.cancel();
        cancellable.cancel();
      },
      process() {},
    }));
    stream.process(() => ({
      init(context: ProcessorApiContext) {
        context.schedule(1, 'stream-time', () => ticks.push('second'));
      },
      process() {},
    }));
    new TopologyTestDriver(builder.build()).pipe('in', 1, 'k', '5').pipe('in', 1, 'k', '6');
    expect(ticks).to.deep.equal(['second', 'second']);
  });

  it('on a task: a record that fails undoes its stream time and its stream-time punctuation, which its retry runs again', () => {
    const builder = new StreamsBuilder('retry');
    let fail = true;
    builder.stream<string, number>('in').process<string, number>(() => {
      let context!: ProcessorApiContext<string, number>;
      return {
        init(given) {
          context = given;
          context.schedule(1000, 'stream-time', (time) => context.getStateStore<number>('ticks').put('last', time));
        },
        process(record) {
          if (record.value === 2 && fail) {
            fail = false;
            throw new Error('transient');
          }
        },
      };
    }, { stores: ['ticks'] });
    const topology = builder.build();
    const source = topology.sources[0]!;
    const task = new StreamTask('in-0', 0, ['ticks'], new MemoryTaskStorage(), plainCommitter(async () => [], async () => undefined), (store) => `${store}-changelog`, false, createLogger({ level: 'silent' }));
    const message = (offset: string, timestamp: string): DriverMessage => ({ key: Buffer.from('k'), value: null, timestamp, offset, headers: {} });
    task.runTopology(source, { key: 'k', value: 1, timestamp: '500' });
    task.recordDone('in', message('0', '500'), true);
    expect(() => task.runTopology(source, { key: 'k', value: 2, timestamp: '1000' })).to.throw(/transient/);
    expect(task.streamTime()).to.equal(1000);
    // The retry: stream time and the schedule as before the failed attempt, so the punctuation runs (and is kept).
    task.runTopology(source, { key: 'k', value: 2, timestamp: '1000' });
    task.recordDone('in', message('1', '1000'), true);
    expect(task.entries('ticks')).to.deep.equal([{ key: 'last', value: 1000 }]);
    // A record dead-lettered (settled without keeping) leaves stream time where it was.
    task.runTopology(source, { key: 'k', value: 3, timestamp: '7000' });
    task.recordDone('in', message('2', '7000'), false);
    expect(task.streamTime()).to.equal(1000);
  });

  it('refuses a store it was not given and a child declared twice', () => {
    const builder = new StreamsBuilder('bad');
    const stream = builder.stream<string, number>('in').process(() => ({
      process(this: { context?: ProcessorApiContext }) {},
      init(context: ProcessorApiContext) {
        context.getStateStore('undeclared');
      },
    }));
    stream.child('x');
    expect(() => stream.child('x')).to.throw(/ERR13013/);
    stream.to('out');
    const driver = new TopologyTestDriver(builder.build());
    expect(() => driver.pipe('in', 1, 'k')).to.throw(/store undeclared was not given to this processor/);
  });
});

/** The sum over tasks of the latest count each task's punctuation sent. */
function distinctKeysCounted(records: { key: string | null; value: string | null }[]): number {
  const latest = new Map<string, number>();
  for (const record of records) if (record.key?.startsWith('count-')) latest.set(record.key, Number(record.value));
  return [...latest.values()].reduce((sum, count) => sum + count, 0);
}

describe('Processor API on a real service @broker', function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('runs under exactly_once: the store survives a restart (changelog), wall-clock punctuations reach the output, metadata is the record\'s', async () => {
    const input = uniqueName('processor-in');
    const output = uniqueName('processor-out');
    await createTopics([input, output], 2);
    const applicationId = uniqueName('processor-app');
    const stateDir = mkdtempSync(join(tmpdir(), 'light-kafka-processor-'));
    dirs.push(stateDir);
    const config = configDir({
      'service.yml': serviceYml('processor-api'),
      'kafka-consumer.yml': consumerYml(uniqueName('processor-unused')),
      'kafka-producer.yml': producerYml(),
      'kafka-streams.yml': `properties:\n  bootstrap.servers: \${kafka.brokers}\n  application.id: ${applicationId}\n  processing.guarantee: exactly_once\n  state.dir: ${stateDir}\n  commit.interval.ms: 200\n`,
      'handler.yml': 'handlers: [correlation, kafka/producer@producer]\ndefaultHandlers:\n  produce: [correlation, producer]\n  consume: [correlation]\n',
    });
    const start = async (): Promise<LightService> => {
      const service = await LightService.create({ configDir: config });
      service.streams
        .builder()
        .stream<string, unknown>(input)
        .process<string, unknown>(() => {
          let context!: ProcessorApiContext<string, unknown>;
          return {
            init(given) {
              context = given;
              // Every 200 ms: how many distinct keys this task has seen so far.
              context.schedule(200, 'wall-clock-time', () => context.forward({ key: `count-${context.taskId}`, value: context.getStateStore('seen').all().length }));
            },
            process(record) {
              const seen = context.getStateStore<string>('seen');
              const { partition, offset } = context.recordMetadata()!;
              if (seen.get(record.key) === undefined) {
                seen.put(record.key, `${partition}@${offset}`);
                context.forward({ key: record.key, value: { first: `${partition}@${offset}` } });
              }
            },
          };
        }, { stores: ['seen'] })
        .to(output);
      await service.start();
      return service;
    };
    let service = await start();
    try {
      await produceRaw(input, ['a', 'b', 'a', 'c'].map((key) => ({ key, value: '{}' })));
      await waitFor(async () => (await readToEnd(output)).filter((record) => !record.key?.startsWith('count-')).length === 3, 30_000, 'three first sightings');
      await service.stop();
      // The store comes back from its changelog: a key seen before the restart is not forwarded again.
      service = await start();
      await produceRaw(input, ['a', 'd'].map((key) => ({ key, value: '{}' })));
      await waitFor(async () => (await readToEnd(output)).some((record) => record.key === 'd'), 30_000, 'd after the restart');
      // The punctuations' latest counts per task add up to the 4 distinct keys (the stores restored, then d).
      await waitFor(async () => distinctKeysCounted(await readToEnd(output)) === 4, 30_000, 'punctuation outputs counting 4 keys');
    } finally {
      await service.stop();
    }
    const firsts = (await readToEnd(output)).filter((record) => !record.key?.startsWith('count-'));
    expect(firsts.map((record) => record.key).sort()).to.deep.equal(['a', 'b', 'c', 'd']);
    for (const record of firsts) expect(JSON.parse(record.value!).first).to.match(/^[01]@\d+$/);
  });
});
