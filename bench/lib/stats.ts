/** Median with min-max of repeated measurements: the machine is shared and noisy, so one number is not enough. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

export function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, samples };
}

/** Runs `measure` `warmups` times unrecorded, then `repetitions` times. */
export async function repeat(repetitions: number, warmups: number, measure: (run: number) => Promise<number>): Promise<Summary> {
  for (let i = 0; i < warmups; i++) await measure(-1 - i);
  const samples: number[] = [];
  for (let i = 0; i < repetitions; i++) samples.push(await measure(i));
  return summarize(samples);
}

export function percentile(sortedAscending: number[], p: number): number {
  if (sortedAscending.length === 0) return Number.NaN;
  const index = Math.min(sortedAscending.length - 1, Math.max(0, Math.ceil((p / 100) * sortedAscending.length) - 1));
  return sortedAscending[index]!;
}

/** A progress line on stderr that rewrites itself. */
export class Progress {
  private step = 0;
  private readonly started = Date.now();

  constructor(private readonly total: number) {}

  next(label: string): void {
    this.step += 1;
    const elapsed = ((Date.now() - this.started) / 1000).toFixed(0);
    process.stderr.write(`\r\x1b[K[bench ${this.step}/${this.total} ${elapsed}s] ${label}`);
  }

  done(): void {
    process.stderr.write(`\r\x1b[K[bench] done in ${((Date.now() - this.started) / 1000).toFixed(0)} s\n`);
  }
}
