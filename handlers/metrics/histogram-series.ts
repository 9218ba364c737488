import type { Histogram } from 'prom-client';

/** prom-client's per-label-set histogram values (lib/histogram.js createBaseValues). */
interface SeriesValues {
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

/** The parts of a prom-client 15 Histogram this module reads: its series by label hash, bounds and sorted label names. */
interface HistogramInternals {
  hashMap: Record<string, SeriesValues | undefined>;
  upperBounds: readonly number[];
  sortedLabelNames: readonly string[];
}

/**
 * Observes many values of one label set at once into a prom-client Histogram: the same sums, counts and buckets
 * as one `observe(labels, value)` per value, but the labels are checked and hashed once per label set instead
 * of once per value (most of what an observation costs). prom-client has no public call for this, so this reads
 * the histogram's series map; test/handlers/histogram-series.test.ts pins the result to `observe`'s.
 */
export class HistogramSeries {
  private readonly histogram: Histogram & HistogramInternals;
  /** The label hash of each label set seen, in prom-client's form. */
  private readonly hashes = new Map<Record<string, string>, string>();

  constructor(histogram: Histogram) {
    this.histogram = histogram as Histogram & HistogramInternals;
  }

  /** `observe(labels, value)` for each of `values`; `labels` should be one object per label set (its hash is kept). */
  observeAll(labels: Record<string, string>, values: readonly number[]): void {
    if (values.length === 0) return;
    const histogram = this.histogram;
    let hash = this.hashes.get(labels);
    let series = hash === undefined ? undefined : histogram.hashMap[hash];
    if (series === undefined) {
      // The first value goes through prom-client (label checks, a new series); the rest go straight to it.
      histogram.observe(labels, values[0]!);
      hash = hashOf(histogram.sortedLabelNames, labels);
      if (this.hashes.size >= MAX_LABEL_SETS) this.hashes.clear();
      this.hashes.set(labels, hash);
      series = histogram.hashMap[hash]!;
      add(series, histogram.upperBounds, values, 1);
      return;
    }
    add(series, histogram.upperBounds, values, 0);
  }
}

/** Label sets whose hash is kept (a bound: label values come from records). */
const MAX_LABEL_SETS = 10_000;

function add(series: SeriesValues, upperBounds: readonly number[], values: readonly number[], from: number): void {
  for (let i = from; i < values.length; i++) {
    const value = values[i]!;
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    series.sum += value;
    series.count += 1;
    for (const bound of upperBounds) {
      if (value <= bound) {
        series.bucketValues[bound]! += 1;
        break;
      }
    }
  }
}

/** prom-client's label hash (lib/util.js hashObject with the metric's sorted label names). */
function hashOf(sortedLabelNames: readonly string[], labels: Record<string, string>): string {
  let hash = '';
  for (const name of sortedLabelNames) {
    const value = labels[name];
    if (value !== undefined) hash += `${name}:${value},`;
  }
  return hash;
}
