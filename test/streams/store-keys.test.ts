import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { createLogger } from '../../core/logger.js';
import { assertStorableKey, DELETED, LmdbTaskStorage, MAX_STORE_KEY_BYTES, MemoryTaskStorage, type TaskStorage } from '../../core/streams/stores.js';
import { plainCommitter } from '../../core/kafka/streams-clients.js';
import { StreamTask } from '../../core/streams/task.js';
import { lightErrorOf } from '../support/errors.js';

const silent = createLogger({ level: 'error' } as never);

describe('state store key size limit', () => {
  const folders: string[] = [];
  after(() => folders.forEach((folder) => rmSync(folder, { recursive: true, force: true })));
  const folder = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'light-kafka-store-keys-'));
    folders.push(dir);
    return join(dir, 'task');
  };

  it('MAX_STORE_KEY_BYTES is what lmdb-js holds whatever a key starts with (its limit 1978, one byte less for a control character first)', () => {
    const dir = folder();
    const root = open({ path: join(dir, 'probe.mdb'), compression: false, maxDbs: 4 });
    try {
      const db = root.openDB<unknown, string>({ name: 'probe', encoding: 'msgpack' });
      const fits = (key: string): boolean => {
        try {
          root.transactionSync(() => db.putSync(key, 1));
          return db.get(key) === 1;
        } catch {
          return false;
        }
      };
      expect((root as unknown as { maxKeySize: number }).maxKeySize).to.equal(MAX_STORE_KEY_BYTES + 1);
      expect(fits('\u0010' + 'x'.repeat(MAX_STORE_KEY_BYTES - 1))).to.equal(true);
      expect(fits('\u0010' + 'x'.repeat(MAX_STORE_KEY_BYTES))).to.equal(false);
      expect(fits('x'.repeat(MAX_STORE_KEY_BYTES + 2))).to.equal(false);
    } finally {
      root.close();
    }
  });

  it('assertStorableKey returns the key as stored, and refuses one over the limit with ERR12015 naming store, key (cut) and limit', () => {
    expect(assertStorableKey('accounts', 'a1')).to.equal('a1');
    expect(assertStorableKey('accounts', { id: 1 })).to.equal('{"id":1}');
    expect(assertStorableKey('accounts', Buffer.from('b1'))).to.equal('b1');
    expect(assertStorableKey('accounts', 'x'.repeat(MAX_STORE_KEY_BYTES))).to.have.length(MAX_STORE_KEY_BYTES);
    // 659 three-byte characters: 1977 bytes fit; one more does not.
    expect(assertStorableKey('accounts', '\u0900'.repeat(659))).to.have.length(659);
    const multibyte = lightErrorOf(() => assertStorableKey('accounts', '\u0900'.repeat(660)));
    expect(multibyte.code).to.equal('ERR12015');
    expect(multibyte.message).to.contain('1980 bytes');

    const error = lightErrorOf(() => assertStorableKey('account-view', 'k'.repeat(10_000)));
    expect(error.code).to.equal('ERR12015');
    expect(error.retryable).to.equal(false);
    expect(error.statusCode).to.equal(400);
    expect(error.message).to.contain('State store account-view cannot hold key').and.contain('10000 bytes of UTF-8, over the limit of 1977');
    expect(error.message).to.contain('(10000 characters)');
    expect(error.message.length).to.be.below(300);
  });

  for (const [name, make] of [
    ['memory', () => new MemoryTaskStorage()],
    ['lmdb', () => new LmdbTaskStorage(folder(), silent)],
  ] as [string, () => TaskStorage][]) {
    it(`${name}: holds a key of MAX_STORE_KEY_BYTES, refuses a longer one (ERR12015, nothing of the commit applied) and finds nothing under it`, () => {
      const storage = make();
      const longest = '\u0010' + 'x'.repeat(MAX_STORE_KEY_BYTES - 1);
      storage.apply('s', new Map<string, unknown>([[longest, 1], ['a', 2]]), '1');
      expect(storage.get('s', longest)).to.equal(1);
      expect(storage.range('s', { prefix: '\u0010' }).map(({ key }) => key)).to.deep.equal([longest]);

      const tooLong = 'y'.repeat(10_000);
      const error = lightErrorOf(() => storage.apply('s', new Map<string, unknown>([['b', 3], [tooLong, 4]]), '2'));
      expect(error.code).to.equal('ERR12015');
      expect(storage.get('s', 'b')).to.equal(undefined);
      expect(storage.checkpoint('s')).to.equal('1');

      // Reads and deletes of a key no store can hold: nothing, instead of lmdb's "String does not fit in target buffer".
      expect(storage.get('s', tooLong)).to.equal(undefined);
      expect(storage.range('s', { prefix: tooLong })).to.deep.equal([]);
      expect(storage.range('s', { start: 'a' + tooLong }).map(({ key }) => key)).to.deep.equal([]);
      expect(storage.range('s', { start: '\u0010' + tooLong }).map(({ key }) => key)).to.deep.equal(['a']);
      storage.apply('s', new Map<string, unknown>([[tooLong, DELETED]]), '3');
      expect(storage.checkpoint('s')).to.equal('3');
      storage.close();
    });
  }

  it('a topology that puts a key over the limit fails at the put, the record that wrote it, before anything reaches a commit', () => {
    const committed: unknown[] = [];
    const committer = plainCommitter(async (batches) => {
      committed.push(...batches);
      return [];
    }, async () => undefined);
    const task = new StreamTask('t-0', 0, ['s'], new MemoryTaskStorage(), committer, (store) => `${store}-changelog`, false, silent);
    const store = task.store('s');
    store.put('k'.repeat(MAX_STORE_KEY_BYTES), 1);
    const error = lightErrorOf(() => store.put('k'.repeat(MAX_STORE_KEY_BYTES + 1), 1));
    expect(error.code).to.equal('ERR12015');
    expect(committed).to.deep.equal([]);
  });
});
