import { expect } from 'chai';
import { Histogram, Registry } from 'prom-client';
import { HistogramSeries } from '../../handlers/metrics/histogram-series.js';

const LABELS = ['serviceId', 'topic', 'status'];
const BUCKETS = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];

function histogramIn(registry: Registry): Histogram {
  return new Histogram({ name: 'durations_seconds', help: 'durations', labelNames: LABELS, buckets: BUCKETS, registers: [registry] });
}

describe('histogram series (many observations of one label set at once)', () => {
  it('gives the text prom-client gives for one observe per value, across label sets, resets and removals', async () => {
    const one = new Registry();
    const many = new Registry();
    const byValue = histogramIn(one);
    const batched = histogramIn(many);
    const series = new HistogramSeries(batched);
    const ok = { serviceId: 's', topic: 't', status: '200' };
    const failed = { serviceId: 's', topic: 't', status: '500' };
    // Values in buckets, on a bound, above every bound.
    const rounds: [Record<string, string>, number[]][] = [
      [ok, [0.0001, 0.0005, 0.002, 7, 0.3]],
      [failed, [0.02]],
      [ok, [1, 5, 5.0001]],
      [failed, []],
    ];
    const apply = (): void => {
      for (const [labels, values] of rounds) {
        for (const value of values) byValue.observe(labels, value);
        series.observeAll(labels, values);
      }
    };
    apply();
    expect(await many.metrics()).to.equal(await one.metrics());
    byValue.remove(ok);
    batched.remove(ok);
    apply();
    expect(await many.metrics()).to.equal(await one.metrics());
    one.resetMetrics();
    many.resetMetrics();
    apply();
    expect(await many.metrics()).to.equal(await one.metrics());
    expect(await many.metrics()).to.contain('durations_seconds_count{serviceId="s",topic="t",status="200"} 8');
  });

  it('refuses a value that is not a number, as observe does', () => {
    const series = new HistogramSeries(histogramIn(new Registry()));
    const labels = { serviceId: 's', topic: 't', status: '200' };
    series.observeAll(labels, [0.1]);
    expect(() => series.observeAll(labels, [Number.NaN])).to.throw(TypeError);
  });
});
