// Windowed aggregations on the TopologyTestDriver (no broker): window membership, grace, retention, sessions,
// suppression and timestamp extraction, with Kafka Streams 3.9's semantics (see core/streams/windows.ts).
import { expect } from 'chai';
import { createLogger } from '../../core/logger.js';
import { LightError } from '../../core/errors/light-error.js';
import { MemoryTaskStorage, DELETED, type PendingValue } from '../../core/streams/stores.js';
import { StreamTask } from '../../core/streams/task.js';
import { plainCommitter } from '../../core/kafka/streams-clients.js';
import { SessionWindows, SlidingWindows, StreamsBuilder, TimeWindows, windowKey, type Topology } from '../../core/streams/topology.js';
import { sessionKey, Suppressed, BufferConfig, windowedKeyString, type Windowed } from '../../core/streams/windows.js';
import type { TransportMessage } from '../../core/transport.js';
import { TopologyTestDriver } from '../../testing/index.js';
import { seeded as random } from '../support/random.js';

type Update<V = number | null> = { key: Windowed<string>; value: V; timestamp: string };

/** A topology counting `in` per key in `windows` into store `w`, its updates to `out`. */
function counting(windows: TimeWindows | SlidingWindows | SessionWindows, retentionMs?: number): Topology {
  const builder = new StreamsBuilder('app');
  const grouped = builder.stream<string, number>('in').groupByKey();
  const materialized = { store: 'w', ...(retentionMs !== undefined ? { retentionMs } : {}) };
  const table = windows instanceof SessionWindows ? grouped.windowedBy(windows).count(materialized) : grouped.windowedBy(windows).count(materialized);
  table.toStream().to('out');
  return builder.build();
}

/** Pipes `key@time` records (value 1) into `in`. */
function pipeAll(driver: TopologyTestDriver, records: [string, number][]): void {
  for (const [key, time] of records) driver.pipe('in', 1, key, String(time));
}

/** The driver's output as `key [start,end) = value @ timestamp` lines, to compare at a glance. */
function lines(driver: TopologyTestDriver, topic = 'out'): string[] {
  return (driver.output(topic) as Update<unknown>[]).map(({ key, value, timestamp }) => `${key.key} ${key.start}-${key.end} = ${JSON.stringify(value)} @${timestamp}`);
}

/** A window store's entries as `store key => value` (the aggregate only). */
function windowValues(driver: TopologyTestDriver, store = 'w'): Record<string, unknown> {
  return Object.fromEntries(driver.store<{ value: unknown }>(store).all().map(([key, { value }]) => [key, value]));
}

function expectTopologyError(build: () => unknown, ...fragments: string[]): void {
  let thrown: unknown;
  try {
    build();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).to.be.instanceOf(LightError);
  expect((thrown as LightError).code).to.equal('ERR13013');
  for (const fragment of fragments) expect((thrown as LightError).message).to.contain(fragment);
}

describe('streams windows: tumbling and hopping', () => {
  it('puts a record at t in [start, start + size): a record at a window end belongs to the next window only', () => {
    const driver = new TopologyTestDriver(counting(TimeWindows.ofSizeWithNoGrace(10)));
    pipeAll(driver, [['a', 0], ['a', 9], ['a', 10], ['b', 19], ['b', 20]]);
    expect(windowValues(driver)).to.deep.equal({ [windowKey('a', 0)]: 2, [windowKey('a', 10)]: 1, [windowKey('b', 10)]: 1, [windowKey('b', 20)]: 1 });
    expect(lines(driver)).to.deep.equal(['a 0-10 = 1 @0', 'a 0-10 = 2 @9', 'a 10-20 = 1 @10', 'b 10-20 = 1 @19', 'b 20-30 = 1 @20']);
  });

  it('hopping windows: a record updates each window it falls in, in start order; none starts before 0', () => {
    const driver = new TopologyTestDriver(counting(TimeWindows.ofSizeWithNoGrace(10).advanceBy(5)));
    pipeAll(driver, [['a', 4], ['a', 5], ['a', 14], ['a', 15]]);
    expect(lines(driver)).to.deep.equal([
      'a 0-10 = 1 @4',
      'a 0-10 = 2 @5',
      'a 5-15 = 1 @5',
      'a 5-15 = 2 @14',
      'a 10-20 = 1 @14',
      'a 10-20 = 2 @15',
      'a 15-25 = 1 @15',
    ]);
    expect(TimeWindows.ofSizeWithNoGrace(10).advanceBy(3).windowsFor(10)).to.deep.equal([
      { start: 3, end: 13 },
      { start: 6, end: 16 },
      { start: 9, end: 19 },
    ]);
  });

  it('takes an out-of-order record into its window while stream time < window end + grace, and drops it (counted) from then on', async () => {
    const driver = new TopologyTestDriver(counting(TimeWindows.ofSizeAndGrace(10, 5)));
    pipeAll(driver, [['a', 12], ['a', 8]]); // stream time 12 < 10 + 5: [0,10) is open
    expect(windowValues(driver)).to.deep.equal({ [windowKey('a', 0)]: 1, [windowKey('a', 10)]: 1 });
    pipeAll(driver, [['a', 14], ['a', 9]]); // 14 < 15: still open
    expect(windowValues(driver)[windowKey('a', 0)]).to.equal(2);
    pipeAll(driver, [['b', 15], ['a', 9], ['b', 0]]); // stream time 15 = 10 + 5: [0,10) closed, for every key
    expect(windowValues(driver)[windowKey('a', 0)]).to.equal(2);
    expect(windowValues(driver)[windowKey('b', 0)]).to.equal(undefined);
    expect(driver.droppedRecords('expired-window', 'w')).to.equal(2);
    expect(driver.streamTime).to.equal(15);
    // The window's update timestamp is the newest record timestamp in it, not the late record's.
    expect(lines(driver)).to.include('a 0-10 = 2 @9');
    const dropped = (await driver.metrics.getSingleMetric('light_kafka_streams_dropped_records_total')!.get()).values;
    expect(dropped.map(({ value, labels }) => [labels.reason, labels.store, value])).to.deep.equal([['expired-window', 'w', 2]]);
  });

  it('with no grace, a window closes when stream time reaches its end; a hopping record still updates its open windows', () => {
    const tumbling = new TopologyTestDriver(counting(TimeWindows.ofSizeWithNoGrace(10)));
    pipeAll(tumbling, [['a', 10], ['a', 9]]);
    expect(tumbling.droppedRecords('expired-window')).to.equal(1);
    expect(windowValues(tumbling)).to.deep.equal({ [windowKey('a', 10)]: 1 });

    const hopping = new TopologyTestDriver(counting(TimeWindows.ofSizeWithNoGrace(10).advanceBy(5)));
    pipeAll(hopping, [['a', 12], ['a', 9]]); // [0,10) closed at 12, [5,15) open
    expect(hopping.droppedRecords('expired-window')).to.equal(1);
    expect(windowValues(hopping)).to.deep.equal({ [windowKey('a', 5)]: 2, [windowKey('a', 10)]: 1 });
  });

  it("lateRecords: 'dead-letter' fails a record too late for every one of its windows with ERR11023 (dead-lettered), never one that still updates a window", () => {
    for (const [windows, late] of [
      [TimeWindows.ofSizeAndGrace(10, 5), 3],
      [SlidingWindows.ofTimeDifferenceAndGrace(10, 5), 3],
      [SessionWindows.ofInactivityGapAndGrace(10, 5), 3],
    ] as const) {
      const builder = new StreamsBuilder('late');
      const grouped = builder.stream<string, number>('in').groupByKey();
      const table = windows instanceof SessionWindows ? grouped.windowedBy(windows).count({ store: 'c', lateRecords: 'dead-letter' }) : grouped.windowedBy(windows).count({ store: 'c', lateRecords: 'dead-letter' });
      table.toStream().to('out');
      const driver = new TopologyTestDriver(builder.build());
      driver.pipe('in', 1, 'a', '100');
      let failure: unknown;
      try {
        driver.pipe('in', 1, 'a', String(late));
      } catch (error) {
        failure = error;
      }
      expect(failure, windows.constructor.name).to.be.instanceOf(LightError);
      expect((failure as LightError).code).to.equal('ERR11023');
      expect((failure as LightError).message).to.include('too late for c').and.include('stream time 100');
      expect(driver.droppedRecords('expired-window', 'c'), windows.constructor.name).to.be.at.least(1);
    }
    // Hopping: a record whose older window closed but a newer one is open updates that one and is not failed.
    const builder = new StreamsBuilder('late-hopping');
    builder.stream<string, number>('in').groupByKey().windowedBy(TimeWindows.ofSizeWithNoGrace(10).advanceBy(5)).count({ store: 'c', lateRecords: 'dead-letter' }).toStream().to('out');
    const driver = new TopologyTestDriver(builder.build());
    driver.pipe('in', 1, 'a', '12').pipe('in', 1, 'a', '9');
    expect(driver.droppedRecords('expired-window')).to.equal(1);
  });

  it('reads a windowed count stored before window values kept timestamps (a bare number, restored from an old changelog) as that count', () => {
    const builder = new StreamsBuilder('legacy');
    builder.stream<string, number>('in').groupByKey().windowedBy(TimeWindows.ofSizeMs(1000)).count({ store: 'c' }).toStream().to('out');
    const topology = builder.build();
    const storage = new MemoryTaskStorage();
    storage.apply('c', new Map<string, PendingValue>([[windowKey('a', 0), 41]]), '1');
    const task = new StreamTask('in-0', 0, [...topology.stores.keys()], storage, plainCommitter(async () => [], async () => undefined), (store) => `${store}-changelog`, false, createLogger({ level: 'silent' }));
    const [output] = task.runTopology(topology.sources[0]!, { key: 'a', value: 1, timestamp: '500' });
    expect(output!.record.value).to.equal(42);
    expect(output!.record.timestamp).to.equal('500');
  });

  it('TimeWindows.ofSizeMs keeps its old meaning: no grace limit (nothing is late) and no retention', () => {
    const driver = new TopologyTestDriver(counting(TimeWindows.ofSizeMs(10)));
    pipeAll(driver, [['a', 1_000_000], ['a', 5]]);
    expect(driver.droppedRecords()).to.equal(0);
    expect(windowValues(driver)).to.deep.equal({ [windowKey('a', 0)]: 1, [windowKey('a', 1_000_000)]: 1 });
  });

  it('reduce and aggregate per window; null keys are skipped and counted', () => {
    const builder = new StreamsBuilder('app');
    const grouped = builder.stream<string | null, number>('in').groupByKey();
    grouped.windowedBy(TimeWindows.ofSizeWithNoGrace(10)).reduce((sum, value) => sum + value, { store: 'sum' }).toStream().to('sums');
    grouped
      .windowedBy(TimeWindows.ofSizeWithNoGrace(10))
      .aggregate(() => [] as number[], (_key, value, list) => [...list, value], { store: 'lists' })
      .toStream()
      .to('lists');
    const driver = new TopologyTestDriver(builder.build());
    for (const [key, value, time] of [['a', 3, 1], ['a', 4, 2], [null, 5, 3], ['a', 6, 12]] as const) driver.pipe('in', value, key, String(time));
    expect(windowValues(driver, 'sum')).to.deep.equal({ [windowKey('a', 0)]: 7, [windowKey('a', 10)]: 6 });
    expect(windowValues(driver, 'lists')).to.deep.equal({ [windowKey('a', 0)]: [3, 4], [windowKey('a', 10)]: [6] });
    expect(driver.droppedRecords('null-key')).to.equal(2);
    expect(driver.streamTime, 'a null key still moves the task stream time').to.equal(12);
  });

  it('refuses invalid window specifications and a retention shorter than size + grace, naming the store', () => {
    expectTopologyError(() => TimeWindows.ofSizeWithNoGrace(0), 'window size 0');
    expectTopologyError(() => TimeWindows.ofSizeAndGrace(10, -1), 'grace period -1');
    expectTopologyError(() => TimeWindows.ofSizeWithNoGrace(10).advanceBy(11), 'window advance 11');
    expectTopologyError(() => SlidingWindows.ofTimeDifferenceWithNoGrace(-1), 'time difference -1');
    expectTopologyError(() => SessionWindows.ofInactivityGapWithNoGrace(0), 'inactivity gap 0');
    expectTopologyError(() => counting(TimeWindows.ofSizeAndGrace(10, 5), 14), 'window store w', '14 ms', '15 ms', 'window size (10)', 'grace period (5)');
    expectTopologyError(() => counting(SlidingWindows.ofTimeDifferenceAndGrace(10, 5), 24), 'window store w', '25 ms');
    expectTopologyError(() => counting(SessionWindows.ofInactivityGapAndGrace(10, 5), 14), 'window store w', 'inactivity gap (10)');
    expectTopologyError(() => counting(TimeWindows.ofSizeMs(10), 1_000_000), 'window store w', 'never close');
    expect(() => counting(TimeWindows.ofSizeAndGrace(10, 5), 15)).not.to.throw();
  });
});

describe('streams windows: retention', () => {
  it('deletes a window once stream time passes its end + retention, in sweeps every half retention of stream time', () => {
    // size 10, no grace: retention 10 by default; sweeps at the first record, then every 5 ms of stream time.
    const driver = new TopologyTestDriver(counting(TimeWindows.ofSizeWithNoGrace(10)));
    pipeAll(driver, [['a', 5], ['b', 6], ['a', 15]]);
    expect(Object.keys(windowValues(driver))).to.deep.equal([windowKey('a', 0), windowKey('a', 10), windowKey('b', 0)]);
    pipeAll(driver, [['a', 20]]); // a sweep (20 - 15 >= 5), but 20 = end + retention of [0,10): kept
    expect(Object.keys(windowValues(driver))).to.deep.equal([windowKey('a', 0), windowKey('a', 10), windowKey('a', 20), windowKey('b', 0)]);
    pipeAll(driver, [['c', 24]]); // expired, but no sweep is due yet
    expect(Object.keys(windowValues(driver))).to.have.length(5);
    pipeAll(driver, [['c', 25]]); // a sweep
    expect(Object.keys(windowValues(driver))).to.deep.equal([windowKey('a', 10), windowKey('a', 20), windowKey('c', 20)]);
  });

  it('keeps windows as long as a longer retention says', () => {
    const driver = new TopologyTestDriver(counting(TimeWindows.ofSizeWithNoGrace(10), 100));
    pipeAll(driver, [['a', 5], ['a', 105], ['a', 109]]);
    expect(Object.keys(windowValues(driver))).to.deep.equal([windowKey('a', 0), windowKey('a', 100)]);
    pipeAll(driver, [['a', 160]]);
    expect(Object.keys(windowValues(driver))).to.deep.equal([windowKey('a', 100), windowKey('a', 160)]);
  });

  it('in a StreamTask, a deleted window is a tombstone in the changelog, so a restore does not bring it back', async () => {
    const topology = counting(TimeWindows.ofSizeWithNoGrace(10));
    const source = topology.sources[0]!;
    const changelog: { key: string; value: PendingValue }[] = [];
    const committer = {
      commit: async (batches: { topic: string; messages: TransportMessage[] }[]) => {
        for (const { topic, messages } of batches) {
          if (topic !== 'app-w-changelog') continue;
          for (const message of messages) changelog.push({ key: message.key!.toString(), value: message.value === null ? DELETED : JSON.parse(message.value.toString()) });
        }
        return batches.map(({ topic }) => ({ topic, partition: 0, baseOffset: '0' }));
      },
      close: async () => undefined,
    };
    const storage = new MemoryTaskStorage();
    const task = new StreamTask('in-0', 0, [...topology.stores.keys()], storage, committer, (store) => `app-${store}-changelog`, true, createLogger({ level: 'error' } as never));
    let offset = 0;
    for (const [key, time] of [['a', 5], ['a', 15], ['a', 21]] as const) {
      task.runTopology(source, { key, value: 1, timestamp: String(time) });
      task.recordDone('in', { key: Buffer.from(key), value: Buffer.from('1'), timestamp: String(time), offset: String(offset++) }, true);
      await task.commit();
    }
    expect(changelog.map(({ key, value }) => [key, value === DELETED ? null : (value as { value: number }).value])).to.deep.equal([
      [windowKey('a', 0), 1],
      [windowKey('a', 10), 1],
      [windowKey('a', 0), null], // the sweep at 21 (21 > 10 + 10), before the record's own update
      [windowKey('a', 20), 1],
    ]);
    const restored = new MemoryTaskStorage();
    for (const { key, value } of changelog) restored.apply('w', new Map([[key, value]]), undefined);
    expect(restored.range('w', {}).map(({ key }) => key)).to.deep.equal([windowKey('a', 10), windowKey('a', 20)]);
    expect(storage.range('w', {}).map(({ key }) => key)).to.deep.equal([windowKey('a', 10), windowKey('a', 20)]);
    // The aggregation's stream time went to its own changelog too (it survives a restart).
    expect(storage.get('w-stream-time', 'streamTime')).to.equal(21);
  });
});

/**
 * Kafka Streams' sliding windows for in-order and out-of-order records: each record's left window [t - d, t] ([0, d]
 * for t < d), and its right window [t + 1, t + 1 + d] when a record falls in it; each with the records it covers.
 */
function slidingReference(times: number[], d: number): Record<number, number> {
  const windows: Record<number, number> = {};
  const countIn = (start: number): number => times.filter((u) => u >= start && u <= start + d).length;
  for (const t of times) {
    const left = Math.max(0, t - d);
    windows[left] = countIn(left);
    if (times.some((u) => u > t && u <= t + 1 + d)) windows[t + 1] = countIn(t + 1);
  }
  return windows;
}

describe('streams windows: sliding', () => {
  it('creates a record’s left window and the right window of the record before it, emitting each update', () => {
    const driver = new TopologyTestDriver(counting(SlidingWindows.ofTimeDifferenceWithNoGrace(10)));
    pipeAll(driver, [['a', 10], ['a', 15], ['a', 15], ['a', 26]]);
    expect(lines(driver)).to.deep.equal([
      'a 0-10 = 1 @10', // left window of 10
      'a 11-21 = 1 @15', // right window of 10 (15 falls in it)
      'a 5-15 = 2 @15', // left window of 15: 10 and 15
      'a 11-21 = 2 @15', // a second record at 15: its windows exist, updated newest first
      'a 5-15 = 3 @15',
      'a 16-26 = 1 @26', // right window of 15 (26 = 15 + 1 + 10 falls in it: both ends inclusive) ...
      'a 16-26 = 1 @26', // ... which is 26's left window too: created twice, as in Kafka Streams
    ]);
    expect(windowValues(driver)).to.deep.equal({ [windowKey('a', 0)]: 1, [windowKey('a', 5)]: 3, [windowKey('a', 11)]: 2, [windowKey('a', 16)]: 1 });
  });

  it('matches the window set of Kafka Streams’ definition for random in-order and out-of-order records (early records included)', () => {
    const next = random(450);
    for (let round = 0; round < 60; round++) {
      const d = 1 + Math.floor(next() * 20);
      const driver = new TopologyTestDriver(counting(SlidingWindows.ofTimeDifferenceAndGrace(d, 1000), 10_000));
      const times: number[] = [];
      let time = Math.floor(next() * 30);
      for (let i = 0; i < 25; i++) {
        time += Math.floor(next() * d * 1.5);
        // A third of the records come out of order (within the grace period).
        const t = round % 2 === 1 && next() < 0.3 ? Math.max(0, time - Math.floor(next() * 3 * d)) : time;
        times.push(t);
        driver.pipe('in', 1, 'a', String(t));
      }
      const stored = Object.fromEntries(Object.entries(windowValues(driver)).map(([key, value]) => [Number(key.slice(2)), value]));
      expect(stored, `round ${round}: d=${d}, times ${times.join(',')}`).to.deep.equal(slidingReference(times, d));
    }
  });

  it('in a StreamTask, reads its uncommitted writes through range(): the windows match the driver’s, committed or not', async () => {
    const next = random(11);
    const times = Array.from({ length: 40 }, () => Math.floor(next() * 200));
    const topology = counting(SlidingWindows.ofTimeDifferenceAndGrace(10, 1000), 10_000);
    const driver = new TopologyTestDriver(topology);
    const committer = { commit: async (batches: { topic: string }[]) => batches.map(({ topic }) => ({ topic, partition: 0, baseOffset: '0' })), close: async () => undefined };
    const task = new StreamTask('in-0', 0, [...topology.stores.keys()], new MemoryTaskStorage(), committer, (store) => `app-${store}-changelog`, true, createLogger({ level: 'error' } as never));
    for (const [offset, time] of times.entries()) {
      driver.pipe('in', 1, 'a', String(time));
      task.runTopology(topology.sources[0]!, { key: 'a', value: 1, timestamp: String(time) });
      task.recordDone('in', { key: Buffer.from('a'), value: Buffer.from('1'), timestamp: String(time), offset: String(offset) }, true);
      if (offset % 7 === 6) await task.commit();
    }
    expect(task.entries('w').map(({ key, value }) => [key, value])).to.deep.equal(driver.store('w').all());
  });

  it('drops a record whose windows closed, and a null value; a record within grace updates the windows it falls in', () => {
    const driver = new TopologyTestDriver(counting(SlidingWindows.ofTimeDifferenceAndGrace(10, 5)));
    pipeAll(driver, [['a', 30], ['a', 16]]); // close time 25: 16 + 10 >= 25, but its only window [6,16] closed
    expect(driver.droppedRecords('expired-window')).to.equal(1);
    pipeAll(driver, [['a', 14]]); // 14 + 10 < 25: dropped whole
    expect(driver.droppedRecords('expired-window')).to.equal(2);
    pipeAll(driver, [['a', 22]]); // in [20,30]; its right window [23,33] holds 30; its left window [12,22] closed
    expect(driver.droppedRecords('expired-window')).to.equal(3);
    expect(lines(driver)).to.deep.equal(['a 20-30 = 1 @30', 'a 20-30 = 2 @30', 'a 23-33 = 1 @30']);
    driver.pipe('in', null, 'a', '31');
    expect(driver.droppedRecords('null-value')).to.equal(1);
    expect(windowValues(driver)).to.deep.equal({ [windowKey('a', 20)]: 2, [windowKey('a', 23)]: 1 });
  });
});

describe('streams windows: sessions', () => {
  it('merges the sessions a record bridges, emitting a tombstone per merged session and then the merged session', () => {
    const driver = new TopologyTestDriver(counting(SessionWindows.ofInactivityGapAndGrace(5, 20)));
    pipeAll(driver, [['a', 0], ['a', 4], ['a', 20], ['a', 12], ['a', 8], ['b', 8]]);
    expect(lines(driver)).to.deep.equal([
      'a 0-0 = 1 @0',
      'a 0-0 = null @0', // 4 is within the gap of [0,0]: merged
      'a 0-4 = 2 @4',
      'a 20-20 = 1 @20',
      'a 12-12 = 1 @12', // 12 is more than 5 from 4 and from 20: a session of its own
      'a 0-4 = null @4', // 8 bridges [0,4] and [12,12]
      'a 12-12 = null @12',
      'a 0-12 = 4 @12',
      'b 8-8 = 1 @8',
    ]);
    expect(windowValues(driver)).to.deep.equal({ [sessionKey('a', 0, 12)]: 4, [sessionKey('a', 20, 20)]: 1, [sessionKey('b', 8, 8)]: 1 });
  });

  it('merges records exactly the gap apart; a record inside a session re-emits it (a tombstone, then the update), as Kafka Streams does without a cache', () => {
    const driver = new TopologyTestDriver(counting(SessionWindows.ofInactivityGapWithNoGrace(5)));
    pipeAll(driver, [['a', 10], ['a', 15], ['a', 12]]);
    expect(lines(driver)).to.deep.equal(['a 10-10 = 1 @10', 'a 10-10 = null @10', 'a 10-15 = 2 @15', 'a 10-15 = null @15', 'a 10-15 = 3 @15']);
    pipeAll(driver, [['a', 21]]); // 21 - 15 > 5: a new session (and [10,15], past 15 + retention 5, is swept)
    expect(lines(driver).slice(5)).to.deep.equal(['a 21-21 = 1 @21']);
    expect(windowValues(driver)).to.deep.equal({ [sessionKey('a', 21, 21)]: 1 });
  });

  it('merges with reduce and aggregate’s merger; drops a record whose merged session ends before stream time - gap - grace', () => {
    const builder = new StreamsBuilder('app');
    const sessions = builder.stream<string, string>('in').groupByKey().windowedBy(SessionWindows.ofInactivityGapAndGrace(5, 20));
    sessions.reduce((a, b) => a + b, { store: 'joined' });
    sessions.aggregate(
      () => '',
      (_key, value, aggregate) => `${aggregate}+${value}`,
      (_key, a, b) => `(${a}|${b})`,
      { store: 'merged' },
    );
    const driver = new TopologyTestDriver(builder.build());
    for (const [value, time] of [['x', 0], ['y', 10], ['z', 5]] as const) driver.pipe('in', value, 'k', String(time));
    expect(windowValues(driver, 'joined')).to.deep.equal({ [sessionKey('k', 0, 10)]: 'xyz' });
    expect(windowValues(driver, 'merged')).to.deep.equal({ [sessionKey('k', 0, 10)]: '((|+x)|+y)+z' });
    driver.pipe('in', 'late', 'k', '30').pipe('in', 'p', 'k2', '5'); // close time 30 - 20 - 5 = 5: [5,5] is not before it
    expect(driver.droppedRecords('expired-window')).to.equal(0);
    driver.pipe('in', 'q', 'k3', '4');
    expect(driver.droppedRecords('expired-window', 'joined')).to.equal(1);
    expect(windowValues(driver, 'joined')).to.deep.equal({ [sessionKey('k', 0, 10)]: 'xyz', [sessionKey('k', 30, 30)]: 'late', [sessionKey('k2', 5, 5)]: 'p' });
  });

  it('deletes sessions once stream time passes their end + retention; a record exactly a gap later still merges (no grace)', () => {
    // gap 5, no grace: retention 5, sweeps every 2 ms of stream time.
    const driver = new TopologyTestDriver(counting(SessionWindows.ofInactivityGapWithNoGrace(5)));
    pipeAll(driver, [['a', 0], ['b', 3], ['a', 5]]);
    expect(Object.keys(windowValues(driver))).to.deep.equal([sessionKey('a', 0, 5), sessionKey('b', 3, 3)]);
    pipeAll(driver, [['c', 9]]); // b's session: 3 + 5 < 9, swept
    expect(Object.keys(windowValues(driver))).to.deep.equal([sessionKey('a', 0, 5), sessionKey('c', 9, 9)]);
    pipeAll(driver, [['c', 11]]);
    expect(Object.keys(windowValues(driver))).to.deep.equal([sessionKey('c', 9, 11)]);
  });
});

describe('streams windows: suppress(untilWindowCloses)', () => {
  function suppressed(windows: TimeWindows | SessionWindows): Topology {
    const builder = new StreamsBuilder('app');
    const grouped = builder.stream<string, number>('in').groupByKey();
    const table = windows instanceof SessionWindows ? grouped.windowedBy(windows).count({ store: 'w' }) : grouped.windowedBy(windows).count({ store: 'w' });
    table.toStream().to('updates');
    table.suppress(Suppressed.untilWindowCloses(BufferConfig.unbounded())).toStream().to('out');
    return builder.build();
  }

  it('emits one final result per window when stream time reaches window end + grace, in window-end order', () => {
    const driver = new TopologyTestDriver(suppressed(TimeWindows.ofSizeAndGrace(10, 5)));
    pipeAll(driver, [['a', 1], ['b', 4], ['a', 3], ['a', 12], ['a', 8], ['a', 14]]);
    expect(lines(driver)).to.deep.equal([]);
    expect(driver.output('updates')).to.have.length(6);
    pipeAll(driver, [['c', 15]]);
    expect(lines(driver)).to.deep.equal(['a 0-10 = 3 @8', 'b 0-10 = 1 @4']);
    pipeAll(driver, [['a', 9], ['b', 24]]); // late for [0,10): dropped, nothing emitted again
    expect(lines(driver)).to.have.length(2);
    pipeAll(driver, [['b', 25]]);
    expect(lines(driver)).to.deep.equal(['a 0-10 = 3 @8', 'b 0-10 = 1 @4', 'a 10-20 = 2 @14', 'c 10-20 = 1 @15']);
    expect(driver.droppedRecords('expired-window')).to.equal(1);
    expect(driver.store('w-suppress').all().map(([key]) => key)).to.deep.equal(['0000000000030@b@0000000000020']);
  });

  it('keeps the pending results across a restart (stores kept, memory lost) and emits each exactly once', () => {
    const driver = new TopologyTestDriver(suppressed(TimeWindows.ofSizeWithNoGrace(10)));
    pipeAll(driver, [['a', 1], ['a', 2], ['b', 5]]);
    driver.restart();
    expect(driver.streamTime).to.equal(-1);
    pipeAll(driver, [['a', 4]]); // stream time of the aggregation is 5 still (its store): [0,10) open
    expect(lines(driver)).to.deep.equal([]);
    pipeAll(driver, [['a', 10]]);
    expect(lines(driver)).to.deep.equal(['a 0-10 = 3 @4', 'b 0-10 = 1 @5']);
    driver.restart();
    pipeAll(driver, [['a', 9], ['b', 3]]); // too late before the restart: still too late after it (no second final result)
    expect(driver.droppedRecords('expired-window')).to.equal(2);
    pipeAll(driver, [['a', 20]]);
    expect(lines(driver)).to.deep.equal(['a 0-10 = 3 @4', 'b 0-10 = 1 @5', 'a 10-20 = 1 @10']);
  });

  it('sessions: the final result comes at session end + gap + grace; merged-away sessions emit nothing', () => {
    const driver = new TopologyTestDriver(suppressed(SessionWindows.ofInactivityGapAndGrace(5, 2)));
    pipeAll(driver, [['a', 0], ['a', 3], ['b', 9]]);
    expect(lines(driver)).to.deep.equal([]);
    pipeAll(driver, [['b', 10]]); // 10 = 3 + 5 + 2
    expect(lines(driver)).to.deep.equal(['a 0-3 = 2 @3']);
    pipeAll(driver, [['b', 30]]);
    expect(lines(driver)).to.deep.equal(['a 0-3 = 2 @3', 'b 9-10 = 2 @10']);
  });

  it('refuses windows that never close (TimeWindows.ofSizeMs)', () => {
    const builder = new StreamsBuilder('app');
    const table = builder.stream('in').groupByKey().windowedBy(TimeWindows.ofSizeMs(10)).count({ store: 'w' });
    expectTopologyError(() => table.suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded())), 'suppress() of window store w', 'ofSizeWithNoGrace');
  });
});

describe('streams timestamp extractor', () => {
  it('takes a record’s timestamp from its value: windows, stream time and the timestamps of outputs follow it', () => {
    const builder = new StreamsBuilder('app');
    const stream = builder.stream<string, { at: number }>('in', { timestampExtractor: (record) => record.value.at });
    stream.mapValues((value) => value.at).to('echo');
    stream.groupByKey().windowedBy(TimeWindows.ofSizeWithNoGrace(100)).count({ store: 'w' }).toStream().to('out');
    const driver = new TopologyTestDriver(builder.build());
    driver.pipe('in', { at: 150 }, 'a', '999999').pipe('in', { at: 120 }, 'a', '1');
    expect(driver.streamTime).to.equal(150);
    expect(driver.output('echo')).to.deep.equal([
      { key: 'a', value: 150, timestamp: '150' },
      { key: 'a', value: 120, timestamp: '120' },
    ]);
    expect(lines(driver)).to.deep.equal(['a 100-200 = 1 @150', 'a 100-200 = 2 @150']);
  });

  it('skips and counts a record whose timestamp is not valid (negative, fractional, not a number); the extractor gets the partition time', () => {
    const seen: number[] = [];
    const builder = new StreamsBuilder('app');
    builder
      .stream<string, { at?: number }>('in', {
        timestampExtractor: (record, partitionTime) => {
          seen.push(partitionTime);
          // A missing field: the stream time so far (Kafka Streams' UsePartitionTimeOnInvalidTimestamp); else the field.
          return record.value.at === undefined ? partitionTime : record.value.at;
        },
      })
      .to('out');
    builder.stream('plain').to('plain-out');
    const driver = new TopologyTestDriver(builder.build());
    driver.pipe('in', { at: 50 }, 'a').pipe('in', { at: -5 }, 'a').pipe('in', { at: 1.5 }, 'a').pipe('in', {}, 'a').pipe('in', { at: 70 }, 'a');
    driver.pipe('plain', 1, 'p', '-1').pipe('plain', 2, 'p', 'not a time').pipe('plain', 3, 'p', '80');
    expect(driver.output('out').map(({ timestamp }) => timestamp)).to.deep.equal(['50', '50', '70']);
    expect(driver.output('plain-out').map(({ value }) => value)).to.deep.equal([3]);
    expect(driver.droppedRecords('invalid-timestamp')).to.equal(4);
    expect(seen).to.deep.equal([-1, 50, 50, 50, 50]);
  });
});

// Keep the Windowed helper honest: it is the string key today's windowed counts were written with.
describe('streams windowed keys', () => {
  it('windowedKeyString: <key>@<start, 13 digits>, JSON for a key that is not a string', () => {
    expect(windowedKeyString({ key: 'a', start: 5, end: 15 })).to.equal('a@0000000000005');
    expect(windowedKeyString({ key: { id: 1 }, start: 0, end: 1 })).to.equal('{"id":1}@0000000000000');
  });
});
