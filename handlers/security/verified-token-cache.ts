/** A bounded LRU of verified tokens. An entry is never used after `usableUntil` (epoch seconds). */
export class VerifiedTokenCache<V> {
  private readonly entries = new Map<string, { value: V; usableUntil: number }>();

  constructor(private readonly maxEntries: number) {}

  get(token: string, nowSeconds: number): V | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    this.entries.delete(token);
    if (nowSeconds >= entry.usableUntil) return undefined;
    this.entries.set(token, entry); // most recently used goes last
    return entry.value;
  }

  set(token: string, value: V, usableUntil: number): void {
    if (this.maxEntries === 0) return;
    this.entries.delete(token);
    this.entries.set(token, { value, usableUntil });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }
}
