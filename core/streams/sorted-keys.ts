/**
 * A sorted set of strings (compared as JavaScript compares them, by UTF-16 code units) that inserts, deletes and
 * lists a key range in O(log n + CHUNK): the keys sit in chunks of at most CHUNK sorted keys, so an insert moves at
 * most one chunk's worth. It lets an in-memory store and a task's uncommitted writes answer a range (a window
 * store's fetch, a join buffer's scan) without sorting everything per call.
 */
const CHUNK = 512;

export class SortedKeys {
  private chunks: string[][] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The index of the first chunk whose last key is >= key (chunks.length when none). */
  private chunkOf(key: string): number {
    let low = 0;
    let high = this.chunks.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      const chunk = this.chunks[mid]!;
      if (chunk[chunk.length - 1]! < key) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** The index of the first key >= key in a sorted chunk. */
  private static position(chunk: readonly string[], key: string): number {
    let low = 0;
    let high = chunk.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (chunk[mid]! < key) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** Adds a key; false when it was there already. */
  add(key: string): boolean {
    if (this.chunks.length === 0) {
      this.chunks.push([key]);
      this.count = 1;
      return true;
    }
    // Past the last key: into the last chunk.
    const index = Math.min(this.chunkOf(key), this.chunks.length - 1);
    const chunk = this.chunks[index]!;
    const at = SortedKeys.position(chunk, key);
    if (chunk[at] === key) return false;
    chunk.splice(at, 0, key);
    this.count++;
    if (chunk.length > CHUNK) this.chunks.splice(index + 1, 0, chunk.splice(CHUNK / 2));
    return true;
  }

  /** Removes a key; false when it was not there. */
  delete(key: string): boolean {
    const index = this.chunkOf(key);
    const chunk = this.chunks[index];
    if (!chunk) return false;
    const at = SortedKeys.position(chunk, key);
    if (chunk[at] !== key) return false;
    chunk.splice(at, 1);
    this.count--;
    if (chunk.length === 0) this.chunks.splice(index, 1);
    return true;
  }

  clear(): void {
    this.chunks = [];
    this.count = 0;
  }

  /** The keys from `start` (inclusive) to `end` (exclusive), either bound left open when undefined, in order. */
  *between(start?: string, end?: string): Generator<string> {
    let index = start === undefined ? 0 : this.chunkOf(start);
    let at = start === undefined || index >= this.chunks.length ? 0 : SortedKeys.position(this.chunks[index]!, start);
    for (; index < this.chunks.length; index++, at = 0) {
      const chunk = this.chunks[index]!;
      for (; at < chunk.length; at++) {
        const key = chunk[at]!;
        if (end !== undefined && key >= end) return;
        yield key;
      }
    }
  }
}
