import { expect } from 'chai';
import { InputBuilder, seeded } from '../../support/differential/input.js';
import { streamStreamJoin } from './pending-inputs.js';

describe('differential inputs: what a case relies on holds for its seeded input', () => {
  // The stream-stream join's late records must not join in any processing order (see streamStreamJoin): each is more
  // than retention + the window behind the newest record of its key on both sides in earlier phases, so neither the
  // other side's store (fetch) nor its own (put) holds it, whichever records of its own phase come first.
  it('stream-stream join: every late record is expired on both sides before its phase starts', () => {
    const { differenceMs, graceMs } = streamStreamJoin.params as { differenceMs: number; graceMs: number };
    const expiredBehind = 2 * differenceMs + graceMs + differenceMs; // retention (size + grace) + the fetch's reach
    const phases = streamStreamJoin.phases(new InputBuilder(seeded(20261207)));
    const newest = new Map<string, number>(); // `${side} ${key}` -> newest time of the earlier phases
    let late = 0;
    phases.forEach((records, phase) => {
      for (const record of records) {
        if (record.time >= phase * 2000 || record.key === null || record.value === null) continue;
        late++;
        for (const side of ['left', 'right']) {
          const seen = newest.get(`${side} ${record.key}`);
          expect(seen, `${record.topic} ${String(record.value.id)} (key ${record.key}, t ${record.time}, phase ${phase}): no ${side} record of its key before`).to.not.equal(undefined);
          expect(seen! - record.time, `${record.topic} ${String(record.value.id)} (key ${record.key}, t ${record.time}, phase ${phase}) vs newest ${side} ${seen}`).to.be.greaterThan(expiredBehind);
        }
      }
      for (const record of records) {
        if (record.key === null || record.value === null) continue;
        const at = `${record.topic} ${record.key}`;
        newest.set(at, Math.max(newest.get(at) ?? -Infinity, record.time));
      }
    });
    expect(late, 'late records in the input').to.be.greaterThan(2);
  });
});
