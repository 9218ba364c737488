import { relative } from 'node:path';

/** A test file and the wall time its tests (and its `before` hooks) took. */
export interface FileTime {
  file: string;
  ms: number;
}

/**
 * Wall time per test file, for the "slowest ten" table printed at the end of a run (so the next slow test is
 * visible). A process runs its files one after another (a parallel run: each worker its own): a file's time runs
 * from the end of the previous file's last test to the end of its own last test, so its `before` hooks (a broker
 * or a cluster started) count, its `after` hooks go to the next file.
 */
export class FileDurations {
  private done: FileTime[] = [];
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

  /** The files finished so far (the current one included), handed out once. */
  flush(): FileTime[] {
    this.close();
    this.current = undefined;
    const done = this.done;
    this.done = [];
    return done;
  }

  private close(): void {
    if (this.current) this.done.push({ file: this.current, ms: Math.max(0, this.lastEnd - this.since) });
  }
}

/** The slowest files, slowest first, as the lines of a small table (paths relative to `root`). */
export function slowestFiles(times: FileTime[], count: number, root: string): string[] {
  const totals = new Map<string, number>();
  for (const { file, ms } of times) totals.set(file, (totals.get(file) ?? 0) + ms);
  const rows = [...totals].sort((a, b) => b[1] - a[1]).slice(0, count);
  if (rows.length === 0) return [];
  return [`slowest ${rows.length} test files (wall time, s):`, ...rows.map(([file, ms]) => `${(ms / 1000).toFixed(1).padStart(8)}  ${relative(root, file)}`)];
}
