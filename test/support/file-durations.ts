import { relative } from 'node:path';

/**
 * Wall time per test file, for the "slowest ten" table printed at the end of a run (so the next slow test is
 * visible). Files run one after another: a file's time runs from the end of the previous file's last test to the
 * end of its own last test, so its `before` hooks (a broker or a cluster started) count, its `after` hooks go to
 * the next file.
 */
export class FileDurations {
  private readonly totals = new Map<string, number>();
  private current: string | undefined;
  private since = performance.now();
  private lastEnd = performance.now();

  testStarts(file: string | undefined): void {
    if (!file || file === this.current) return;
    this.close();
    this.current = file;
    this.since = this.lastEnd;
  }

  testEnds(): void {
    this.lastEnd = performance.now();
  }

  /** The slowest files, slowest first, as lines of a table. */
  report(count = 10): string[] {
    this.close();
    this.current = undefined;
    const rows = [...this.totals].sort((a, b) => b[1] - a[1]).slice(0, count);
    if (rows.length === 0) return [];
    return [`slowest ${rows.length} test files (wall time, s):`, ...rows.map(([file, ms]) => `${(ms / 1000).toFixed(1).padStart(8)}  ${relative(process.cwd(), file)}`)];
  }

  private close(): void {
    if (this.current) this.totals.set(this.current, (this.totals.get(this.current) ?? 0) + Math.max(0, this.lastEnd - this.since));
  }
}
