import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
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

/** A write to apply at commit: the new value, or DELETED. */
export const DELETED = Symbol('deleted');
export type PendingValue = unknown | typeof DELETED;

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

function inRange(key: string, range: KeyRange): boolean {
  if (range.prefix !== undefined && !key.startsWith(range.prefix)) return false;
  if (range.start !== undefined && key < range.start) return false;
  if (range.end !== undefined && key >= range.end) return false;
  return true;
}

/** In memory: restored from the changelog at every start. */
export class MemoryTaskStorage implements TaskStorage {
  private readonly stores = new Map<string, Map<string, unknown>>();
  private readonly checkpoints = new Map<string, string>();

  private entries(store: string): Map<string, unknown> {
    let entries = this.stores.get(store);
    if (!entries) this.stores.set(store, (entries = new Map()));
    return entries;
  }

  get(store: string, key: string): unknown {
    return this.entries(store).get(key);
  }

  range(store: string, range: KeyRange): StoreEntry[] {
    return [...this.entries(store)]
      .filter(([key]) => inRange(key, range))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, value]) => ({ key, value }));
  }

  checkpoint(store: string): string | undefined {
    return this.checkpoints.get(store);
  }

  apply(store: string, writes: ReadonlyMap<string, PendingValue>, checkpoint: string | undefined): void {
    const entries = this.entries(store);
    for (const [key, value] of writes) {
      if (value === DELETED) entries.delete(key);
      else entries.set(key, value);
    }
    if (checkpoint !== undefined) this.checkpoints.set(store, checkpoint);
  }

  clear(store: string): void {
    this.stores.delete(store);
    this.checkpoints.delete(store);
  }

  close(): void {
    this.stores.clear();
  }
}

/**
 * Persistent, on lmdb (memory-mapped B+tree with ACID write transactions): one environment per task under
 * state.dir, a named database per store plus one for the checkpoints. A folder lmdb cannot open (damaged,
 * another format) is deleted and the stores are restored from their changelogs.
 */
export class LmdbTaskStorage implements TaskStorage {
  private readonly root: RootDatabase;
  private readonly checkpoints: Database<string, string>;
  private readonly dbs = new Map<string, Database<unknown, string>>();

  constructor(folder: string, logger: Logger) {
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
  }

  private db(store: string): Database<unknown, string> {
    let db = this.dbs.get(store);
    if (!db) this.dbs.set(store, (db = this.root.openDB<unknown, string>({ name: `store:${store}`, encoding: 'msgpack' })));
    return db;
  }

  get(store: string, key: string): unknown {
    return this.db(store).get(key);
  }

  range(store: string, range: KeyRange): StoreEntry[] {
    const start = range.prefix !== undefined && (range.start === undefined || range.prefix > range.start) ? range.prefix : range.start;
    const entries: StoreEntry[] = [];
    for (const { key, value } of this.db(store).getRange(start !== undefined ? { start } : {})) {
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
    const db = this.db(store);
    this.root.transactionSync(() => {
      for (const [key, value] of writes) {
        if (value === DELETED) db.removeSync(key);
        else db.putSync(key, value);
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
    this.root.close();
  }
}
