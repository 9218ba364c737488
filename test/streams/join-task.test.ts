// The stores under the joins, below the TopologyTestDriver: a join run by a StreamTask whose reads overlay uncommitted
// writes on committed ones (memory and lmdb), compared with the driver on random inputs.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../core/logger.js';
import { JoinWindows, StreamsBuilder, type Topology } from '../../index.js';
import { LmdbTaskStorage, MemoryTaskStorage, type TaskStorage } from '../../core/streams/stores.js';
import { plainCommitter } from '../../core/kafka/streams-clients.js';
import { StreamTask } from '../../core/streams/task.js';
import type { TransportMessage } from '../../core/transport.js';
import { TopologyTestDriver } from '../../testing/index.js';

const silent = createLogger({ level: 'error' } as never);

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('streams join stores', () => {
  const folders: string[] = [];
  after(() => folders.forEach((folder) => rmSync(folder, { recursive: true, force: true })));

  for (const [name, storage] of [
    ['memory', () => new MemoryTaskStorage()],
    [
      'lmdb',
      () => {
        const dir = mkdtempSync(join(tmpdir(), 'light-kafka-join-task-'));
        folders.push(dir);
        return new LmdbTaskStorage(join(dir, 'task'), silent);
      },
    ],
  ] as [string, () => TaskStorage][]) {
    it(`${name}: an outer join run by a task that commits now and then gives what the driver gives, and its changelogs delete what expired`, async () => {
      const build = (): Topology => {
        const builder = new StreamsBuilder('task');
        builder
          .stream<string, string>('left')
          .outerJoin(builder.stream<string, string>('right'), (l, r) => `${l ?? '-'}+${r ?? '-'}`, JoinWindows.ofTimeDifferenceAndGrace(20, 10), { name: 'oj' })
          .to('out');
        return builder.build();
      };
      const topology = build();
      const driver = new TopologyTestDriver(build());
      const changelog: { topic: string; messages: TransportMessage[] }[] = [];
      const committer = plainCommitter(async (batches) => {
        changelog.push(...batches);
        return batches.map(({ topic }) => ({ topic, partition: 0, baseOffset: '0' }));
      }, async () => undefined);
      const task = new StreamTask('left-0', 0, [...topology.stores.keys()], storage(), committer, (store) => `${store}-changelog`, false, silent);
      const next = random(11);
      const outputs: [unknown, unknown, string][] = [];
      let time = 1000;
      for (let n = 0; n < 1000; n++) {
        // Mostly forward in time, sometimes out of order (within and beyond the grace), a few keys.
        time += Math.floor(next() * 6);
        const at = next() < 0.15 ? time - Math.floor(next() * 60) : time;
        const topic = next() < 0.5 ? 'left' : 'right';
        const key = `k${Math.floor(next() * 8)}`;
        const value = `${topic[0]}${n}`;
        driver.pipe(topic, value, key, String(at));
        const source = topology.sources.find((candidate) => candidate.topic === topic)!;
        for (const { record } of task.runTopology(source, { key, value, timestamp: String(at) })) outputs.push([record.key, record.value, record.timestamp]);
        task.recordDone(topic, { key: null, value: null, timestamp: String(at), offset: String(n), headers: {} }, true);
        if (next() < 0.03) await task.commit();
      }
      await task.commit();
      expect(outputs.length).to.be.greaterThan(300);
      expect(outputs).to.deep.equal(driver.output('out').map(({ key, value, timestamp }) => [key, value, timestamp]));
      // Committed state is the driver's state: what expired is gone from both.
      for (const store of topology.stores.keys()) {
        expect(task.storage.range(store, {}).map(({ key }) => key), store).to.deep.equal(driver.store(store).all().map(([key]) => key));
      }
      // Expired window entries were deleted through the changelog (tombstones), data and index alike.
      const tombstones = changelog.filter(({ topic }) => topic === 'oj-outer-this-join-store-changelog').flatMap(({ messages }) => messages.filter((message) => message.value === null).map((message) => message.key!.toString()));
      expect(tombstones.some((key) => key.startsWith('d:'))).to.equal(true);
      expect(tombstones.some((key) => key.startsWith('t:'))).to.equal(true);
      await task.close();
    });
  }

  it('a record that fails leaves the join\'s stream time as it was: a record after it is not taken as out of order', () => {
    const builder = new StreamsBuilder('failing');
    let failing = false;
    builder
      .stream<string, string>('left')
      .leftJoin(builder.stream<string, string>('right'), (l, r) => `${l}+${r ?? '-'}`, JoinWindows.ofTimeDifferenceWithNoGrace(100), { name: 'lj' })
      .mapValues((value) => {
        if (failing) throw new Error('the output is refused');
        return value;
      })
      .to('out');
    const topology = builder.build();
    const task = new StreamTask('left-0', 0, [...topology.stores.keys()], new MemoryTaskStorage(), plainCommitter(async () => [], async () => undefined), (store) => `${store}-changelog`, false, silent);
    const source = (topic: string) => topology.sources.find((candidate) => candidate.topic === topic)!;
    const message = (offset: string, timestamp: string) => ({ key: Buffer.from('k'), value: null, timestamp, offset, headers: {} });
    const outputs: string[] = [];
    const run = (topic: string, key: string, value: string, timestamp: string, offset: string): void => {
      try {
        for (const output of task.runTopology(source(topic), { key, value, timestamp })) outputs.push(String(output.record.value));
        task.recordDone(topic, message(offset, timestamp), true);
      } catch {
        // Dead-lettered: settled without keeping its writes.
        task.recordDone(topic, message(offset, timestamp), false);
      }
    };
    run('left', 'k1', 'A', '1000', '0');
    // A right record far ahead that fails (the unmatched A it closes cannot be written): dead-lettered.
    failing = true;
    run('right', 'k9', 'x', '9000000', '0');
    failing = false;
    // Had the failed record moved the join's stream time, B would be taken as out of order, its window closed, and
    // emitted unmatched at once, then matched by b as well.
    run('left', 'k2', 'B', '1010', '1');
    run('right', 'k2', 'b', '1020', '1');
    expect(outputs).to.deep.equal(['B+b']);
  });
});
