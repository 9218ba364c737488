import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { dispatchConcurrently, OffsetTracker, type DispatchOptions } from '../../core/kafka/concurrent-dispatch.js';
import type { DriverMessage } from '../../core/kafka/driver.js';
import type { RecordOutcome } from '../../core/kafka/record-processor.js';

function messages(keys: (string | null)[]): DriverMessage[] {
  return keys.map((key, i) => ({ key: key === null ? null : Buffer.from(key), value: null, timestamp: '0', offset: String(i) }));
}

const processed: RecordOutcome = { kind: 'processed', attempts: 1 };

/** Runs a batch, recording start/end order, the most records in flight, and every committable offset. */
async function run(batch: DriverMessage[], options: Partial<DispatchOptions> & { work?: (message: DriverMessage) => Promise<RecordOutcome> }) {
  const starts: string[] = [];
  const ends: string[] = [];
  const committable: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const result = await dispatchConcurrently(batch, {
    ordering: 'key',
    maxConcurrency: 8,
    isRunning: () => true,
    onDone: () => undefined,
    onCommittable: (offset) => committable.push(offset),
    heartbeat: async () => undefined,
    heartbeatMs: 50,
    ...options,
    process: async (message) => {
      starts.push(message.offset);
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        return await (options.work ?? (async () => (await sleep(2), processed)))(message);
      } finally {
        inFlight -= 1;
        ends.push(message.offset);
      }
    },
  });
  return { result, starts, ends, committable, maxInFlight };
}

describe('concurrent dispatch within a partition', () => {
  it('keeps the records of one key in order while different keys run concurrently, up to maxConcurrency', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `k${i % 6}`);
    const { starts, ends, maxInFlight, committable } = await run(messages(keys), {
      maxConcurrency: 4,
      work: async (message) => (await sleep(1 + (Number(message.offset) * 7) % 5), processed),
    });
    for (let k = 0; k < 6; k++) {
      const ofKey = (order: string[]): number[] => order.map(Number).filter((offset) => offset % 6 === k);
      // One at a time per key: each record of a key starts after the previous one of that key ended.
      expect(ofKey(starts)).to.deep.equal(ofKey(ends)).and.to.deep.equal(ofKey(ends).slice().sort((a, b) => a - b));
    }
    expect(maxInFlight).to.equal(4);
    expect(committable.at(-1)).to.equal('59');
  });

  it('a batch handed back mid-way finishes the records below the highest one started, so everything done is committable', async () => {
    // Key "hot" holds every other record and is slow: the other keys run far ahead of it.
    const keys = Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? 'hot' : `k${i % 17}`));
    let done = 0;
    const { ends, committable } = await run(messages(keys), {
      maxConcurrency: 8,
      handBack: () => done >= 40,
      work: async (message) => {
        await sleep(message.key!.toString() === 'hot' ? 6 : 1);
        done += 1;
        return processed;
      },
    });
    const finished = ends.map(Number).sort((a, b) => a - b);
    expect(finished.length).to.be.below(200);
    // A whole prefix of the batch, and its last offset committable: nothing done comes again.
    expect(finished).to.deep.equal(Array.from({ length: finished.length }, (_, i) => i));
    expect(committable.at(-1)).to.equal(String(finished.at(-1)));
  });

  it('handing back never cuts a record short: the records in flight (a slow one, one in its retries) run to their end', async () => {
    let handBack = false;
    const { ends } = await run(messages(['a', 'b', 'a']), {
      handBack: () => handBack,
      work: async (message) => {
        if (message.offset === '0') {
          handBack = true; // asked while offset 0 is still running
          await sleep(30);
        }
        return processed;
      },
    });
    expect(ends.map(Number).sort()).to.deep.equal([0, 1]);
  });

  it('records without a key share one lane; unordered lets records of one key overlap', async () => {
    const nullKeys = await run(messages([null, null, null, null]), {});
    expect(nullKeys.maxInFlight).to.equal(1);
    const unordered = await run(messages(['a', 'a', 'a', 'a']), { ordering: 'unordered' });
    expect(unordered.maxInFlight).to.equal(4);
  });

  it('never lets the committable offset pass a record still in flight or being retried', async () => {
    let releaseFirst!: () => void;
    const first = new Promise<void>((resolve) => (releaseFirst = resolve));
    const committable: string[] = [];
    const done = dispatchConcurrently(messages(['slow', 'b', 'c', 'd']), {
      ordering: 'key',
      maxConcurrency: 8,
      isRunning: () => true,
      process: async (message) => {
        if (message.offset === '0') await first;
        return processed;
      },
      onDone: () => undefined,
      onCommittable: (offset) => committable.push(offset),
      heartbeat: async () => undefined,
      heartbeatMs: 50,
    });
    await sleep(20);
    expect(committable, 'offsets 1-3 are done but 0 is not').to.deep.equal([]);
    releaseFirst();
    await done;
    expect(committable).to.deep.equal(['3']);
  });

  it('after a record stops the partition, starts nothing more and lets the records in flight finish', async () => {
    const { result, starts, ends, committable } = await run(messages(['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b']), {
      maxConcurrency: 2,
      work: async (message) => {
        await sleep(message.offset === '1' ? 10 : 2);
        return message.offset === '2' ? { kind: 'stopped', attempts: 1, error: new Error('poison') } : processed;
      },
    });
    expect(result.stopped?.message.offset).to.equal('2');
    expect(starts).to.include.members(['0', '1', '2']);
    expect(ends.length).to.equal(starts.length);
    expect(starts.length).to.be.below(8);
    // Nothing at or after the stopped record is committable.
    expect(committable.every((offset) => Number(offset) < 2)).to.equal(true);
  });

  it('stops starting records once the consumer stops, and resolves when the ones in flight ended', async () => {
    let running = true;
    const { starts, ends } = await run(messages(Array.from({ length: 20 }, (_, i) => `k${i}`)), {
      maxConcurrency: 3,
      isRunning: () => running,
      work: async () => {
        await sleep(5);
        running = false;
        return processed;
      },
    });
    expect(starts.length).to.equal(3);
    expect(ends.length).to.equal(3);
  });

  it('rejects with an unexpected error after the records in flight ended', async () => {
    const ended: string[] = [];
    const error = await dispatchConcurrently(messages(['a', 'b']), {
      ordering: 'key',
      maxConcurrency: 2,
      isRunning: () => true,
      process: async (message) => {
        if (message.offset === '0') throw new Error('processor broke');
        await sleep(10);
        ended.push(message.offset);
        return processed;
      },
      onDone: () => undefined,
      onCommittable: () => undefined,
      heartbeat: async () => undefined,
      heartbeatMs: 50,
    }).then(() => undefined, (e: unknown) => e);
    expect((error as Error).message).to.equal('processor broke');
    expect(ended).to.deep.equal(['1']);
  });

  it('tracks the committable offset across gaps in the offsets of a batch', () => {
    const tracker = new OffsetTracker(['10', '12', '15']);
    expect(tracker.complete('12')).to.equal(undefined);
    expect(tracker.complete('10')).to.equal('12');
    expect(tracker.complete('15')).to.equal('15');
  });
});
