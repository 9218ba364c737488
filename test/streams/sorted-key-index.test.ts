import { expect } from 'chai';
import { DELETED, MemoryTaskStorage, SortedKeyIndex } from '../../core/streams/stores.js';
import { seeded as random } from '../support/random.js';

describe('streams sorted key index (ranges of memory stores and of a task’s pending writes)', () => {
  it('answers ranges in key order like a sorted set, through adds, deletes and merges', () => {
    const next = random(7);
    const index = new SortedKeyIndex();
    const model = new Set<string>();
    const key = (): string => `k${String(Math.floor(next() * 3000)).padStart(4, '0')}`;
    for (let step = 0; step < 20_000; step++) {
      const k = key();
      if (next() < 0.65) {
        index.add(k);
        model.add(k);
      } else {
        index.delete(k);
        model.delete(k);
      }
      if (step % 997 === 0) {
        const [a, b] = [key(), key()].sort();
        const expected = [...model].filter((candidate) => candidate >= a! && candidate < b!).sort();
        expect(index.between(a, b), `step ${step}`).to.deep.equal(expected);
        expect(index.size).to.equal(model.size);
      }
    }
    expect(index.between(undefined, undefined)).to.deep.equal([...model].sort());
  });

  it('MemoryTaskStorage: ranges, prefixes and deletes over many writes', () => {
    const storage = new MemoryTaskStorage();
    const writes = new Map<string, unknown>();
    for (let i = 0; i < 2000; i++) writes.set(`a@${String(i).padStart(5, '0')}`, i);
    writes.set('b@1', 'b');
    storage.apply('s', writes, undefined);
    expect(storage.range('s', { start: 'a@00010', end: 'a@00013' }).map(({ key }) => key)).to.deep.equal(['a@00010', 'a@00011', 'a@00012']);
    storage.apply('s', new Map(Array.from({ length: 1000 }, (_, i) => [`a@${String(2 * i).padStart(5, '0')}`, DELETED])), undefined);
    expect(storage.range('s', { start: 'a@00010', end: 'a@00013' })).to.deep.equal([{ key: 'a@00011', value: 11 }]);
    expect(storage.range('s', { prefix: 'b@' })).to.deep.equal([{ key: 'b@1', value: 'b' }]);
    expect(storage.range('s', { prefix: 'a@' })).to.have.length(1000);
    expect(storage.range('s', { prefix: 'a@', start: 'a@01999' }).map(({ key }) => key)).to.deep.equal(['a@01999']);
  });
});
