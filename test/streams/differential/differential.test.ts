import { expect } from 'chai';
import { fetchKafkaStreams } from '../../support/differential/kafka-streams-java.js';
import { runDifferential, type DifferentialCase } from '../../support/differential/harness.js';
import { streamTableJoin, tumblingCount } from './cases.js';
import { JOIN_CASES } from './join-cases.js';
import { WINDOW_CASES } from './window-cases.js';

/**
 * The same topology on Kafka Streams 3.9.1 (test/fixtures/kafka-streams/Topologies.java) and on LightStreams, fed the
 * same input topics: they must write the same results (see test/support/differential/). Each case prints its
 * comparison and timings with LIGHT_KAFKA_DIFF_VERBOSE=1; a difference fails the test with the per-key diff.
 * The inputs of the window and join cases are in pending-inputs.ts, their LightStreams sides in window-cases.ts and
 * join-cases.ts; run-case.js runs any case by hand.
 */
describe('LightStreams against Kafka Streams (differential) @broker @kafka-streams', function () {
  this.timeout(300_000);

  before(async function () {
    // Fetched once per machine (the suite runner fetches before a run; this covers plain mocha).
    this.timeout(600_000);
    await fetchKafkaStreams();
  });

  const check = async (testCase: DifferentialCase): Promise<void> => {
    const report = await runDifferential(testCase);
    if (process.env.LIGHT_KAFKA_DIFF_VERBOSE) console.log(report.text);
    expect(report.equal, `\n${report.text}`).to.equal(true);
  };

  it('tumbling windows (TimeWindows.ofSizeMs: no grace limit), count: the final count per key and window (Kafka Streams with a grace beyond any lateness)', () => check(tumblingCount));

  it('stream-table join, inner and left: every join result, the table loaded and changed between stream phases, null keys and null values included (dropped, or in the left join joined with no table value, as Kafka Streams 3.9)', () =>
    check(streamTableJoin));

  const titles: Record<string, string> = {
    'tumbling-grace': 'tumbling windows with a grace: count (final per window, late records dropped) and suppress(untilWindowCloses) (one result per closed window)',
    'hopping-window': 'hopping windows with a grace: count, aggregate and suppress(untilWindowCloses)',
    'sliding-window': 'sliding windows with a grace: aggregate, final per window',
    'session-window': 'session windows with a grace: count with merges, suppress(untilWindowCloses), aggregate with a merger',
    'stream-stream-join': 'stream-stream join (JoinWindows with a grace): inner, left and outer, every result',
    'table-table-join': 'table-table join: inner, left and outer, final per key',
    'stream-global-join': 'stream-GlobalKTable join with a key selector: inner and left, every result, the global table changed between stream phases',
  };
  for (const testCase of [...WINDOW_CASES, ...JOIN_CASES]) it(titles[testCase.name]!, () => check(testCase));
});
