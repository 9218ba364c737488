import { expect } from 'chai';
import { canonicalJson, compareOutput, describeComparison, type OutputRecord } from '../../support/differential/compare.js';

const records = (...pairs: [string | null, string | null][]): OutputRecord[] => pairs.map(([key, value]) => ({ key, value }));

describe('differential comparison of two outputs', () => {
  it('canonical JSON: object keys sorted at every level, so field order does not count', () => {
    expect(canonicalJson('{"b":1,"a":{"d":[{"y":1,"x":2}],"c":null}}')).to.equal('{"a":{"c":null,"d":[{"x":2,"y":1}]},"b":1}');
    expect(canonicalJson(null)).to.equal(null);
    expect(canonicalJson('not json')).to.equal('(not JSON) not json');
  });

  it('final: the last value per key counts, a tombstone is the same as no record', () => {
    const kafkaStreams = records(['a', '{"count":1}'], ['a', '{"count":3}'], ['b', '{"count":1}'], ['b', null]);
    const lightStreams = records(['a', '{"count":1}'], ['a', '{"count":2}'], ['a', '{"count":3}']);
    const same = compareOutput('count', 'final', kafkaStreams, lightStreams);
    expect(same.equal, describeComparison(same)).to.equal(true);
    const different = compareOutput('count', 'final', kafkaStreams, records(['a', '{"count":2}'], ['b', '{"count":1}']));
    expect(different.equal).to.equal(false);
    expect(different.lines).to.deep.equal(['a: kafka-streams {"count":3}   light-streams {"count":2}', 'b: kafka-streams (absent)   light-streams {"count":1}']);
  });

  it('emissions: every record per key as a multiset (order within a key ignored, a missing or extra repeat found)', () => {
    const kafkaStreams = records(['k', '{"s":"1"}'], ['k', '{"s":"2"}'], [null, '{"s":"3"}']);
    expect(compareOutput('inner', 'emissions', kafkaStreams, records(['k', '{"s":"2"}'], [null, '{"s":"3"}'], ['k', '{"s":"1"}'])).equal).to.equal(true);
    const repeated = compareOutput('inner', 'emissions', kafkaStreams, records(['k', '{"s":"2"}'], ['k', '{"s":"2"}'], ['k', '{"s":"1"}']));
    expect(repeated.lines).to.deep.equal([
      '<null key>: only kafka-streams [{"s":"3"}]   only light-streams []   (kafka-streams 1, light-streams 0 records)',
      'k: only kafka-streams []   only light-streams [{"s":"2"}]   (kafka-streams 2, light-streams 3 records)',
    ]);
  });

  it('once: each key exactly once on each side with the same value (a second emission of a window is a difference)', () => {
    const kafkaStreams = records(['k@0', '{"count":2}'], ['k@10', '{"count":1}']);
    expect(compareOutput('suppressed', 'once', kafkaStreams, records(['k@10', '{"count":1}'], ['k@0', '{"count":2}'])).equal).to.equal(true);
    const twice = compareOutput('suppressed', 'once', kafkaStreams, records(['k@0', '{"count":1}'], ['k@0', '{"count":2}'], ['k@10', '{"count":1}']));
    expect(twice.equal).to.equal(false);
    expect(twice.differing).to.equal(1);
    expect(twice.lines[0]).to.match(/^k@0: kafka-streams \[\{"count":2\}\]   light-streams \[\{"count":1\}, \{"count":2\}\]/);
  });

  it('keys in natural order (numbers inside compared as numbers), at most `limit` lines and a count of the rest', () => {
    const many = records(...Array.from({ length: 12 }, (_, i): [string, string] => [`k@${i * 5}`, '{"count":1}']));
    const comparison = compareOutput('count', 'final', many, [], { limit: 3, showKey: (key) => key.toUpperCase() });
    expect(comparison.differing).to.equal(12);
    expect(comparison.lines).to.deep.equal([
      'K@0: kafka-streams {"count":1}   light-streams (absent)',
      'K@5: kafka-streams {"count":1}   light-streams (absent)',
      'K@10: kafka-streams {"count":1}   light-streams (absent)',
      '... and 9 more keys differ',
    ]);
    expect(describeComparison(comparison).split('\n')[0]).to.equal('output "count" (the last value per key, a tombstone = absent): 12 of 12 keys differ (kafka-streams 12 records, light-streams 0)');
  });
});
