import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { LightError } from '../errors/light-error.js';
import type { DriverMessage } from '../kafka/driver.js';
import type { Logger } from '../logger.js';

/**
 * The storage under a task's state stores: one per task, holding each store's committed entries and, in the
 * same atomic write, the changelog offset they correspond to (the checkpoint a restore starts from).
 */

/** Store keys are compared as strings: a string as it is, a Buffer as UTF-8, anything else as JSON. */
export function storeKeyOf(key: unknown): string {
  if (typeof key === 'string') return key;
  if (Buffer.isBuffer(key)) return key.toString('utf8');
  return JSON.stringify(key);
}

/**
 * The longest store key, in UTF-8 bytes, that every store type holds. lmdb-js refuses an encoded key over 1978
 * bytes (its `maxKeySize`, measured: 1978 ASCII characters go in, 1979 fail with "Key size is larger than the
 * maximum key size (1978)"); its key encoding adds one marker byte to a key that is empty or starts with a
 * character below U+001C, so 1977 bytes of UTF-8 fit whatever the key starts with. The memory store keeps the same
 * limit, so a topology behaves the same on either `storeType`.
 */
export const MAX_STORE_KEY_BYTES = 1977;

/** The first characters of a key, for an error message. */
function keyForMessage(key: string): string {
  return key.length > 64 ? `${JSON.stringify(key.slice(0, 64))}... (${key.length} characters)` : JSON.stringify(key);
}

/**
 * A store key as `storeKeyOf` gives it, refused with ERR12015 (not retried: the record is dead-lettered) when it is
 * longer than MAX_STORE_KEY_BYTES of UTF-8, i.e. when no store type could hold it.
 */
export function assertStorableKey(store: string, key: unknown): string {
  const id = storeKeyOf(key);
  if (tooLong(id)) throw new LightError('ERR12015', { store, key: keyForMessage(id), bytes: Buffer.byteLength(id, 'utf8'), limit: MAX_STORE_KEY_BYTES });
  return id;
}

/** True when a key is longer than any store holds (then it is in no store). */
function tooLong(key: string): boolean {
  // UTF-8 takes at most 3 bytes per UTF-16 code unit: a short key needs no counting.
  return key.length * 3 > MAX_STORE_KEY_BYTES && Buffer.byteLength(key, 'utf8') > MAX_STORE_KEY_BYTES;
}

/** The longest prefix of a key that a store can hold (whole characters). */
function storablePrefix(key: string): string {
  let bytes = 0;
  let end = 0;
  for (const char of key) {
    bytes += Buffer.byteLength(char, 'utf8');
    if (bytes > MAX_STORE_KEY_BYTES) break;
    end += char.length;
  }
  return key.slice(0, end);
}

/** Every write's key is checked before any is applied: a store takes all of a commit's writes or none. */
function assertStorableWrites(store: string, writes: ReadonlyMap<string, PendingValue>): void {
  for (const [key, value] of writes) if (value !== DELETED) assertStorableKey(store, key);
}

/** A write to apply at commit: the new value, or DELETED. */
export const DELETED = Symbol('deleted');
export type PendingValue = unknown | typeof DELETED;

/** Changelog records as store writes (a task's commit writes them so): the last value per key, a null value deletes. */
export function changelogWrites(messages: readonly DriverMessage[]): Map<string, PendingValue> {
  const writes = new Map<string, PendingValue>();
  for (const message of messages) writes.set(message.key?.toString('utf8') ?? '', message.value === null ? DELETED : JSON.parse(message.value.toString('utf8')));
  return writes;
}

/** A key range: keys from `start` (inclusive) to `end` (exclusive), or every key starting with `prefix`. */
export interface KeyRange {
  start?: string;
  end?: string;
  prefix?: string;
}

export interface StoreEntry<V = unknown> {
  key: string;
  value: V;
}

/** One task's stores, committed state only. */
export interface TaskStorage {
  get(store: string, key: string): unknown;
  range(store: string, range: KeyRange): StoreEntry[];
  /** The changelog offset a store's committed entries correspond to, if known. */
  checkpoint(store: string): string | undefined;
  /** Applies a store's writes and moves its checkpoint, atomically. */
  apply(store: string, writes: ReadonlyMap<string, PendingValue>, checkpoint: string | undefined): void;
  /** Forgets a store's entries and checkpoint (before a restore from the changelog's start). */
  clear(store: string): void;
  close(): void;
}

/** The index of the first key of a sorted array that is >= `key`. */
function lowerBound(keys: readonly string[], key: string): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (keys[middle]! < key) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * A set of keys that answers ranges in key order, cheap to add to and delete from: a sorted array, plus the keys
 * added and deleted since it was last rebuilt, kept apart until there are many of them (then merged in one pass).
 * A range costs O(log n + the keys in it + the keys kept apart); an add or delete O(log n), amortized.
 */
export class SortedKeyIndex {
  private sorted: string[] = [];
  /** Keys not in `sorted`. */
  private readonly added = new Set<string>();
  /** Keys of `sorted` that were deleted. */
  private readonly removed = new Set<string>();

  private inSorted(key: string): boolean {
    return this.sorted[lowerBound(this.sorted, key)] === key;
  }

  add(key: string): void {
    if (this.removed.delete(key) || this.added.has(key) || this.inSorted(key)) return;
    this.added.add(key);
    this.mergeIfLarge();
  }

  delete(key: string): void {
    if (this.added.delete(key) || !this.inSorted(key)) return;
    this.removed.add(key);
    this.mergeIfLarge();
  }

  /** The keys from `start` (inclusive) to `end` (exclusive), in order. */
  between(start: string | undefined, end: string | undefined): string[] {
    const from = start === undefined ? 0 : lowerBound(this.sorted, start);
    const to = end === undefined ? this.sorted.length : lowerBound(this.sorted, end);
    let keys = this.sorted.slice(from, Math.max(from, to));
    if (this.removed.size > 0) keys = keys.filter((key) => !this.removed.has(key));
    const extra = [...this.added].filter((key) => (start === undefined || key >= start) && (end === undefined || key < end));
    if (extra.length === 0) return keys;
    return [...keys, ...extra].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  get size(): number {
    return this.sorted.length - this.removed.size + this.added.size;
  }

  clear(): void {
    this.sorted = [];
    this.added.clear();
    this.removed.clear();
  }

  /** Merges the keys kept apart once they are more than a small share of the index. */
  private mergeIfLarge(): void {
    if (this.added.size + this.removed.size <= Math.max(256, this.sorted.length >>> 4)) return;
    const kept = this.removed.size > 0 ? this.sorted.filter((key) => !this.removed.has(key)) : this.sorted;
    const added = [...this.added].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const merged: string[] = new Array(kept.length + added.length);
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < kept.length && j < added.length) merged[k++] = kept[i]! < added[j]! ? kept[i++]! : added[j++]!;
    while (i < kept.length) merged[k++] = kept[i++]!;
    while (j < added.length) merged[k++] = added[j++]!;
    this.sorted = merged;
    this.added.clear();
    this.removed.clear();
  }
}

/** In memory: restored from the changelog at every start. */
export class MemoryTaskStorage implements TaskStorage {
  private readonly stores = new Map<string, Map<string, unknown>>();
  /** Per store: its keys in order, for ranges. */
  private readonly indexes = new Map<string, SortedKeyIndex>();
  private readonly checkpoints = new Map<string, string>();

  private entries(store: string): Map<string, unknown> {
    let entries = this.stores.get(store);
    if (!entries) this.stores.set(store, (entries = new Map()));
    return entries;
  }

  get(store: string, key: string): unknown {
    return tooLong(key) ? undefined : this.entries(store).get(key);
  }

  private index(store: string): SortedKeyIndex {
    let index = this.indexes.get(store);
    if (!index) this.indexes.set(store, (index = new SortedKeyIndex()));
    return index;
  }

  range(store: string, range: KeyRange): StoreEntry[] {
    const entries = this.entries(store);
    const start = range.prefix !== undefined && (range.start === undefined || range.prefix > range.start) ? range.prefix : range.start;
    const found: StoreEntry[] = [];
    for (const key of this.index(store).between(start, range.end)) {
      if (range.prefix !== undefined && !key.startsWith(range.prefix)) break;
      found.push({ key, value: entries.get(key) });
    }
    return found;
  }

  checkpoint(store: string): string | undefined {
    return this.checkpoints.get(store);
  }

  apply(store: string, writes: ReadonlyMap<string, PendingValue>, checkpoint: string | undefined): void {
    assertStorableWrites(store, writes);
    const entries = this.entries(store);
    const index = this.index(store);
    for (const [key, value] of writes) {
      if (value === DELETED) {
        if (entries.delete(key)) index.delete(key);
      } else {
        if (!entries.has(key)) index.add(key);
        entries.set(key, value);
      }
    }
    if (checkpoint !== undefined) this.checkpoints.set(store, checkpoint);
  }

  clear(store: string): void {
    this.stores.delete(store);
    this.indexes.delete(store);
    this.checkpoints.delete(store);
  }

  close(): void {
    this.stores.clear();
    this.indexes.clear();
  }
}

/**
 * Persistent, on lmdb (memory-mapped B+tree with ACID write transactions): one environment per task under
 * state.dir, a named database per store plus one for the checkpoints. A folder lmdb cannot open (damaged,
 * another format) is deleted and the stores are restored from their changelogs.
 */
export class LmdbTaskStorage implements TaskStorage {
  /** The task folders open in this process: one storage per folder at a time (an active task's, or a standby's). */
  private static readonly openFolders = new Set<string>();
  private readonly root: RootDatabase;
  private readonly checkpoints: Database<string, string>;
  private readonly dbs = new Map<string, Database<unknown, string>>();
  private closed = false;

  /** True while a storage of `folder` is open in this process. */
  static isOpen(folder: string): boolean {
    return LmdbTaskStorage.openFolders.has(resolve(folder));
  }

  constructor(
    private readonly folder: string,
    logger: Logger,
  ) {
    mkdirSync(folder, { recursive: true });
    // A file inside the task's folder: lmdb takes a path with a dot (topic names have them) for a file, not a folder.
    const path = join(folder, 'stores.mdb');
    let root: RootDatabase;
    try {
      root = open({ path, compression: false, maxDbs: 64 });
      root.openDB({ name: 'checkpoints', encoding: 'string' }).getKeysCount();
    } catch (error) {
      logger.warn('local state cannot be opened; deleting it to restore from the changelogs', { folder, error: (error as Error).message });
      rmSync(folder, { recursive: true, force: true });
      mkdirSync(folder, { recursive: true });
      root = open({ path, compression: false, maxDbs: 64 });
    }
    this.root = root;
    this.checkpoints = root.openDB<string, string>({ name: 'checkpoints', encoding: 'string' });
    LmdbTaskStorage.openFolders.add(resolve(folder));
  }

  private db(store: string): Database<unknown, string> {
    let db = this.dbs.get(store);
    if (!db) this.dbs.set(store, (db = this.root.openDB<unknown, string>({ name: `store:${store}`, encoding: 'msgpack' })));
    return db;
  }

  get(store: string, key: string): unknown {
    // lmdb throws on a key longer than its buffer ("String does not fit in target buffer"); such a key is in no store.
    return tooLong(key) ? undefined : this.db(store).get(key);
  }

  range(store: string, range: KeyRange): StoreEntry[] {
    if (range.prefix !== undefined && tooLong(range.prefix)) return [];
    const from = range.prefix !== undefined && (range.start === undefined || range.prefix > range.start) ? range.prefix : range.start;
    // A start longer than any key: seek from its longest storable prefix (not after it) and skip what is before it.
    const start = from !== undefined && tooLong(from) ? storablePrefix(from) : from;
    const entries: StoreEntry[] = [];
    for (const { key, value } of this.db(store).getRange(start !== undefined ? { start } : {})) {
      if (range.start !== undefined && key < range.start) continue;
      if (range.end !== undefined && key >= range.end) break;
      if (range.prefix !== undefined && !key.startsWith(range.prefix)) {
        if (key > range.prefix) break;
        continue;
      }
      entries.push({ key, value });
    }
    return entries;
  }

  checkpoint(store: string): string | undefined {
    return this.checkpoints.get(store);
  }

  apply(store: string, writes: ReadonlyMap<string, PendingValue>, checkpoint: string | undefined): void {
    assertStorableWrites(store, writes);
    const db = this.db(store);
    this.root.transactionSync(() => {
      for (const [key, value] of writes) {
        // A key too long for any store is in none: nothing to delete.
        if (value === DELETED) {
          if (!tooLong(key)) db.removeSync(key);
        } else db.putSync(key, value);
      }
      if (checkpoint !== undefined) this.checkpoints.putSync(store, checkpoint);
    });
  }

  clear(store: string): void {
    const db = this.db(store);
    this.root.transactionSync(() => {
      db.clearSync();
      this.checkpoints.removeSync(store);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    LmdbTaskStorage.openFolders.delete(resolve(this.folder));
    this.root.close();
  }
}
