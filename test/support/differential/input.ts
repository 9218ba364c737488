/**
 * Deterministic input for the differential tests: a seeded generator (mulberry32), and a builder of input records
 * with explicit timestamps (ms after the run's base time), string keys or null, JSON object values or null.
 * Each record's value carries an `id` (`<role>-<n>`), so a join result names the records it joined.
 */

export { seeded } from '../random.js';

export interface InputRecord {
  /** The input's role in the case (`in`, `table`, `left`, `global`, ...): the harness maps it to a topic. */
  topic: string;
  key: string | null;
  /** A JSON object (with an `id`), or null: a tombstone for a table, a null value for a stream. */
  value: Record<string, unknown> | null;
  /** The record's timestamp, ms after the run's base time. */
  time: number;
}

/** Collects a case's input records, numbering them per role. */
export class InputBuilder {
  readonly records: InputRecord[] = [];
  private readonly next = new Map<string, number>();

  constructor(readonly random: () => number) {}

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.random() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }

  private id(topic: string): string {
    const n = this.next.get(topic) ?? 0;
    this.next.set(topic, n + 1);
    return `${topic}-${n}`;
  }

  /** A record with a value `{ id, ...fields }`. */
  add(topic: string, key: string | null, time: number, fields: Record<string, unknown> = {}): InputRecord {
    const record = { topic, key, value: { id: this.id(topic), ...fields }, time };
    this.records.push(record);
    return record;
  }

  /** A record with a null value (a table's tombstone). */
  tombstone(topic: string, key: string | null, time: number): InputRecord {
    const record = { topic, key, value: null, time };
    this.records.push(record);
    return record;
  }

  /** The records added since the last call (one phase of the input). */
  take(): InputRecord[] {
    return this.records.splice(0);
  }
}
