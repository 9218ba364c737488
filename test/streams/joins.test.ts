// Joins on the TopologyTestDriver, with Kafka Streams 3.9's semantics. Where a case is ported from Kafka Streams' own
// tests (KStreamKStreamJoinTest, KStreamKStreamLeftJoinTest, KStreamKStreamOuterJoinTest), its name says so: the
// same inputs must give the same outputs (Kafka Streams' "null" for a missing side is undefined here).
import { expect } from 'chai';
import { GlobalKTable, JoinWindows, StreamsBuilder, type KStream } from '../../index.js';
import { TopologyTestDriver } from '../../testing/index.js';
import { LightError } from '../../core/errors/light-error.js';

/** Kafka Streams' MockValueJoiner.TOSTRING_JOINER, with its "null" for a missing side. */
const toStringJoiner = (left: unknown, right: unknown): string => `${left ?? 'null'}+${right ?? 'null'}`;

type Out = [unknown, unknown, number];

/** Reads a topic's outputs once: each later call gives what came since (Kafka Streams' checkAndClearProcessResult). */
function reader(driver: TopologyTestDriver, topic: string): () => Out[] {
  let seen = 0;
  return () => {
    const all = driver.output(topic);
    const fresh = all.slice(seen).map(({ key, value, timestamp }): Out => [key, value, Number(timestamp)]);
    seen = all.length;
    return fresh;
  };
}

function twoStreams(app = 'joins'): { builder: StreamsBuilder; left: KStream<string | number | null, string | null>; right: KStream<string | number | null, string | null> } {
  const builder = new StreamsBuilder(app);
  return { builder, left: builder.stream<string | number | null, string | null>('left'), right: builder.stream<string | number | null, string | null>('right') };
}

describe('streams joins (TopologyTestDriver)', () => {
  describe('JoinWindows', () => {
    it('is symmetric from a time difference, with or without grace; before/after change one bound; retention is size + grace', () => {
      const windows = JoinWindows.ofTimeDifferenceAndGrace(100, 50);
      expect([windows.beforeMs, windows.afterMs, windows.graceMs, windows.sizeMs, windows.retentionMs]).to.deep.equal([100, 100, 50, 200, 250]);
      expect(JoinWindows.ofTimeDifferenceWithNoGrace(10).graceMs).to.equal(0);
      const asymmetric = JoinWindows.ofTimeDifferenceWithNoGrace(5).after(20);
      expect([asymmetric.beforeMs, asymmetric.afterMs]).to.deep.equal([5, 20]);
      expect(() => JoinWindows.ofTimeDifferenceWithNoGrace(-1)).to.throw(LightError, /whole number/);
      expect(() => JoinWindows.ofTimeDifferenceAndGrace(1, 0.5)).to.throw(LightError, /whole number/);
    });
  });

  describe('stream-stream join', () => {
    it('names its stores as Kafka Streams does, puts both sources in one task group and repartitions a side whose key changed', () => {
      const { builder, left, right } = twoStreams('app');
      left.join(right, toStringJoiner, JoinWindows.ofTimeDifferenceWithNoGrace(100), { name: 'inner' }).to('out-inner');
      const other = builder.stream<string, { id: string }>('third').selectKey((_key, value) => value.id);
      left.leftJoin(other, toStringJoiner, JoinWindows.ofTimeDifferenceWithNoGrace(100), { name: 'lj' }).to('out-left');
      const fourth = builder.stream<string, string>('fourth');
      const fifth = builder.stream<string, string>('fifth');
      fourth.outerJoin(fifth, toStringJoiner, JoinWindows.ofTimeDifferenceWithNoGrace(100), { name: 'oj' }).to('out-outer');
      const topology = builder.build();
      expect([...topology.stores.keys()]).to.deep.equal([
        'inner-this-join-store',
        'inner-other-join-store',
        'lj-this-join-store',
        'lj-outer-other-join-store',
        'lj-left-shared-join-store',
        'oj-outer-this-join-store',
        'oj-outer-other-join-store',
        'oj-outer-shared-join-store',
      ]);
      expect(topology.repartitionTopics.map(({ topic }) => topic)).to.deep.equal(['app-lj-right-repartition']);
      const groups = topology.groups.map((group) => [group.sources.map((source) => String(source.topic)).sort(), group.stores]);
      expect(groups).to.deep.include([['app-lj-right-repartition', 'left', 'right'], ['inner-this-join-store', 'inner-other-join-store', 'lj-this-join-store', 'lj-outer-other-join-store', 'lj-left-shared-join-store']]);
      expect(groups).to.deep.include([['fifth', 'fourth'], ['oj-outer-this-join-store', 'oj-outer-other-join-store', 'oj-outer-shared-join-store']]);
      expect(groups).to.deep.include([['third'], []]);
    });

    it('refuses a join without JoinWindows or without a valid name', () => {
      const { left, right } = twoStreams();
      expect(() => left.join(right, toStringJoiner, undefined as unknown as JoinWindows, { name: 'x' })).to.throw(LightError, /JoinWindows/);
      expect(() => left.join(right, toStringJoiner, JoinWindows.ofTimeDifferenceWithNoGrace(1), { name: 'a b' })).to.throw(LightError, /name/);
    });

    it('joins records of a key exactly `difference` apart on either side and no further, at the later timestamp', () => {
      const { builder, left, right } = twoStreams();
      left.join(right, toStringJoiner, JoinWindows.ofTimeDifferenceWithNoGrace(100), { name: 'j' }).to('out');
      const driver = new TopologyTestDriver(builder.build());
      const out = reader(driver, 'out');
      driver.pipe('left', 'L', 'k', '1000');
      driver.pipe('right', 'r899', 'k', '899').pipe('right', 'r900', 'k', '900').pipe('right', 'r1100', 'k', '1100').pipe('right', 'r1101', 'k', '1101');
      expect(out()).to.deep.equal([
        ['k', 'L+r900', 1000],
        ['k', 'L+r1100', 1100],
      ]);
      // The right side keeps a record while it is less than the retention (200: the window, no grace) behind the
      // right side's newest record (1101): r900 is 201 behind and gone, so a second left record at 1000 meets r1100 only.
      driver.pipe('left', 'L2', 'k', '1000');
      expect(out()).to.deep.equal([['k', 'L2+r1100', 1100]]);
    });

    it('KStreamKStreamJoinTest.testWindowing: the same outputs', () => {
      const { builder, left, right } = twoStreams();
      left.join(right, toStringJoiner, JoinWindows.ofTimeDifferenceWithNoGrace(100), { name: 'j' }).to('out');
      const driver = new TopologyTestDriver(builder.build());
      const out = reader(driver, 'out');
      const keys = [0, 1, 2, 3];
      for (const key of keys.slice(0, 2)) driver.pipe('left', `A${key}`, key, '0');
      expect(out()).to.deep.equal([]);
      for (const key of keys.slice(0, 2)) driver.pipe('right', `a${key}`, key, '0');
      expect(out()).to.deep.equal([
        [0, 'A0+a0', 0],
        [1, 'A1+a1', 0],
      ]);
      for (const key of keys) driver.pipe('left', `B${key}`, key, String(1000 + key));
      expect(out()).to.deep.equal([]);
      for (const key of keys) driver.pipe('right', `b${key}`, key, '1100');
      expect(out()).to.deep.equal(keys.map((key) => [key, `B${key}+b${key}`, 1100]));
      for (const [prefix, time, from] of [['c', 1101, 1], ['d', 1102, 2], ['e', 1103, 3], ['f', 1104, 4]] as const) {
        for (const key of keys) driver.pipe('right', `${prefix}${key}`, key, String(time));
        expect(out(), prefix).to.deep.equal(keys.slice(from).map((key) => [key, `B${key}+${prefix}${key}`, time]));
      }
      // Before the window: 899 is more than 100 before B0 (1000).
      for (const key of keys) driver.pipe('right', `g${key}`, key, '899');
      expect(out()).to.deep.equal([]);
      for (const [prefix, time, upTo] of [['h', 900, 1], ['i', 901, 2], ['j', 902, 3]] as const) {
        for (const key of keys) driver.pipe('right', `${prefix}${key}`, key, String(time));
        expect(out(), prefix).to.deep.equal(keys.slice(0, upTo).map((key) => [key, `B${key}+${prefix}${key}`, 1000 + key]));
      }
    });

    it('joins an out-of-order record within the grace period; one that left the other side\'s store (retention behind its newest record) finds nothing', () => {
      const { builder, left, right } = twoStreams();
      left.join(right, toStringJoiner, JoinWindows.ofTimeDifferenceAndGrace(100, 50), { name: 'j' }).to('out');
      const driver = new TopologyTestDriver(builder.build());
      const out = reader(driver, 'out');
      driver.pipe('left', 'A', 'k', '1000');
      driver.pipe('left', 'X', 'other', '1200');
      // Out of order by 250 (stream time 1200), within A's window (950 is 50 before it): the left store keeps records
      // newer than 1200 - 250 (window 200 + grace 50), so A is there.
      driver.pipe('right', 'a', 'k', '950');
      expect(out()).to.deep.equal([['k', 'A+a', 1000]]);
      // The left side moves on to 1300: A (1000) is now 300 behind, past the retention, and expired.
      driver.pipe('left', 'Y', 'other', '1300');
      driver.pipe('right', 'late', 'k', '1000');
      expect(out()).to.deep.equal([]);
    });

    it('deletes expired records from its window stores (with changelog tombstones at commit), by the time index', () => {
      const { builder, left, right } = twoStreams();
      left.join(right, toStringJoiner, JoinWindows.ofTimeDifferenceWithNoGrace(10), { name: 'j' }).to('out');
      const driver = new TopologyTestDriver(builder.build());
      driver.pipe('left', 'A', 'k1', '100').pipe('left', 'B', 'k2', '105').pipe('left', 'C', 'k1', '105');
      expect(driver.store('j-this-join-store').all().map(([key]) => key)).to.deep.equal([
        'd:k1@0000000000100',
        'd:k1@0000000000105',
        'd:k2@0000000000105',
        'm:',
        't:0000000000100:k1',
        't:0000000000105:k1',
        't:0000000000105:k2',
      ]);
      // Retention 20: at 121, what is at 101 or before expired.
      driver.pipe('left', 'D', 'k3', '121');
      expect(driver.store('j-this-join-store').all().map(([key]) => key)).to.deep.equal([
        'd:k1@0000000000105',
        'd:k2@0000000000105',
        'd:k3@0000000000121',
        'm:',
        't:0000000000105:k1',
        't:0000000000105:k2',
        't:0000000000121:k3',
      ]);
      // A record already expired is not buffered.
      driver.pipe('left', 'E', 'k4', '101');
      expect(driver.store('j-this-join-store').get('d:k4@0000000000101')).to.equal(undefined);
    });

    it('keeps duplicates (same key and time) and joins each, in arrival order; a key that only sorts like another one is not mixed in', () => {
      const { builder, left, right } = twoStreams();
      left.join(right, toStringJoiner, JoinWindows.ofTimeDifferenceWithNoGrace(100), { name: 'j' }).to('out');
      const driver = new TopologyTestDriver(builder.build());
      const out = reader(driver, 'out');
      driver.pipe('left', 'A1', 'a', '10').pipe('left', 'A2', 'a', '10').pipe('left', 'Z', 'a@0000000000010', '10');
      driver.pipe('right', 'r', 'a', '20');
      expect(out()).to.deep.equal([
        ['a', 'A1+r', 20],
        ['a', 'A2+r', 20],
      ]);
    });

    it('drops records with a null key or value in an inner join (and a self-join meets each record with itself)', () => {
      const { builder, left, right } = twoStreams();
      left.join(right, toStringJoiner, JoinWindows.ofTimeDifferenceWithNoGrace(100), { name: 'j' }).to('out');
      const self = builder.stream<string, string>('self');
      self.join(self, toStringJoiner, JoinWindows.ofTimeDifferenceWithNoGrace(100), { name: 'self' }).to('self-out');
      const driver = new TopologyTestDriver(builder.build());
      driver.pipe('left', 'A', null, '10').pipe('left', null, 'k', '10').pipe('right', 'r', null, '10').pipe('right', null, 'k', '10').pipe('right', 'r', 'k', '10');
      expect(driver.output('out')).to.deep.equal([]);
      driver.pipe('self', 'x', 'k', '5');
      expect(driver.output('self-out').map(({ value }) => value)).to.deep.equal(['x+x']);
    });
  });

  describe('stream-stream left join', () => {
    it('KStreamKStreamLeftJoinTest.testLeftJoinDuplicates: unmatched records once their window closed, duplicates each', () => {
      const { builder, left, right } = twoStreams();
      left.leftJoin(right, toStringJoiner, JoinWindows.ofTimeDifferenceAndGrace(100, 10), { name: 'lj' }).to('out');
      const driver = new TopologyTestDriver(builder.build());
      const out = reader(driver, 'out');
      driver.pipe('left', 'A0', 0, '0').pipe('left', 'A0-0', 0, '0');
      expect(out()).to.deep.equal([]);
      driver.pipe('right', 'a0', 1, '111').pipe('right', 'dummy', 2, '500');
      expect(out()).to.deep.equal([
        [0, 'A0+null', 0],
        [0, 'A0-0+null', 0],
      ]);
      driver.pipe('left', 'A2', 2, '1000').pipe('left', 'A2-0', 2, '1000').pipe('right', 'a2', 2, '1001');
      expect(out()).to.deep.equal([
        [2, 'A2+a2', 1001],
        [2, 'A2-0+a2', 1001],
      ]);
      driver.pipe('right', 'a3', 3, '315');
      expect(out()).to.deep.equal([]);
    });

    it('KStreamKStreamLeftJoinTest.testLeftExpiredNonJoinedRecordsAreEmittedBy{Left,Right}Processor', () => {
      for (const closer of ['left', 'right']) {
        const { builder, left, right } = twoStreams();
        left.leftJoin(right, toStringJoiner, JoinWindows.ofTimeDifferenceAndGrace(100, 0), { name: 'lj' }).to('out');
        const driver = new TopologyTestDriver(builder.build());
        const out = reader(driver, 'out');
        driver.pipe('left', 'A0', 0, '1').pipe('left', 'A1', 1, '2').pipe('left', 'A0-0', 0, '3');
        expect(out()).to.deep.equal([]);
        driver.pipe('right', 'a1', 1, '3');
        expect(out()).to.deep.equal([[1, 'A1+a1', 3]]);
        driver.pipe(closer, 'dummy', 2, '401');
        expect(out(), closer).to.deep.equal([
          [0, 'A0+null', 1],
          [0, 'A0-0+null', 3],
        ]);
        driver.pipe(closer === 'left' ? 'right' : 'left', 'dummy', 2, '402');
        expect(out(), closer).to.deep.equal([[2, 'dummy+dummy', 402]]);
      }
    });

    it('KStreamKStreamLeftJoinTest.testOrdering and testGracePeriod', () => {
      {
        const { builder, left, right } = twoStreams();
        left.leftJoin(right, toStringJoiner, JoinWindows.ofTimeDifferenceWithNoGrace(100), { name: 'lj' }).to('out');
        const driver = new TopologyTestDriver(builder.build());
        const out = reader(driver, 'out');
        driver.pipe('left', 'A0', 0, '0').pipe('left', 'A1', 1, '100');
        expect(out()).to.deep.equal([]);
        driver.pipe('right', 'a1', 1, '110');
        expect(out()).to.deep.equal([
          [0, 'A0+null', 0],
          [1, 'A1+a1', 110],
        ]);
      }
      {
        const { builder, left, right } = twoStreams();
        left.leftJoin(right, toStringJoiner, JoinWindows.ofTimeDifferenceAndGrace(100, 10), { name: 'lj' }).to('out');
        const driver = new TopologyTestDriver(builder.build());
        const out = reader(driver, 'out');
        driver.pipe('left', 'A0', 0, '0').pipe('left', 'A1', 1, '0');
        for (const key of [0, 1, 2, 3]) driver.pipe('right', `a${key}`, key, '101');
        expect(out()).to.deep.equal([]);
        driver.pipe('right', 'dummy', 0, '1201');
        expect(out()).to.deep.equal([
          [0, 'A0+null', 0],
          [1, 'A1+null', 0],
        ]);
      }
    });

    it('emits an unmatched record only once stream time is past its time + difference + grace (not at exactly that time)', () => {
      const { builder, left, right } = twoStreams();
      left.leftJoin(right, toStringJoiner, JoinWindows.ofTimeDifferenceAndGrace(100, 50), { name: 'lj' }).to('out');
      const driver = new TopologyTestDriver(builder.build());
      const out = reader(driver, 'out');
      driver.pipe('left', 'A', 'k1', '1000');
      driver.pipe('right', 'x', 'k9', '1150');
      expect(out(), 'at 1150 the window (1100) + grace (50) is not over yet').to.deep.equal([]);
      driver.pipe('right', 'y', 'k9', '1151');
      expect(out()).to.deep.equal([['k1', 'A+null', 1000]]);
      // Matched within the grace (out of order): never emitted unmatched afterwards.
      driver.pipe('left', 'B', 'k2', '1200');
      driver.pipe('right', 'b', 'k2', '1110');
      driver.pipe('right', 'z', 'k9', '2000');
      expect(out()).to.deep.equal([['k2', 'B+b', 1200]]);
      // Nothing left unmatched; the store also keeps the join's stream time (so a failed record's move of it is dropped).
      expect(driver.store('lj-left-shared-join-store').all()).to.deep.equal([['~stream-time', 2000]]);
    });

    it('emits at once an out-of-order record whose window has already closed; emits a left record with a null key at once; drops the right side\'s', () => {
      const { builder, left, right } = twoStreams();
      left.leftJoin(right, toStringJoiner, JoinWindows.ofTimeDifferenceAndGrace(100, 50), { name: 'lj' }).to('out');
      const driver = new TopologyTestDriver(builder.build());
      const out = reader(driver, 'out');
      driver.pipe('left', 'now', 'k0', '2000');
      // 1800 + 100 < 2000: its window closed already.
      driver.pipe('left', 'late', 'k1', '1800');
      expect(out()).to.deep.equal([['k1', 'late+null', 1800]]);
      driver.pipe('left', 'nokey', null, '2001').pipe('right', 'nokey', null, '2001').pipe('left', null, 'k2', '2001');
      expect(out()).to.deep.equal([[null, 'nokey+null', 2001]]);
    });
  });

  describe('stream-stream outer join', () => {
    it('KStreamKStreamOuterJoinTest.testOrdering and testGracePeriod: both sides unmatched, at the same time the right side first', () => {
      {
        const { builder, left, right } = twoStreams();
        left.outerJoin(right, toStringJoiner, JoinWindows.ofTimeDifferenceWithNoGrace(100), { name: 'oj' }).to('out');
        const driver = new TopologyTestDriver(builder.build());
        const out = reader(driver, 'out');
        driver.pipe('left', 'A0', 0, '0').pipe('left', 'A1', 1, '100');
        expect(out()).to.deep.equal([]);
        driver.pipe('right', '11', 1, '110');
        expect(out()).to.deep.equal([
          [0, 'A0+null', 0],
          [1, 'A1+11', 110],
        ]);
      }
      {
        const { builder, left, right } = twoStreams();
        left.outerJoin(right, toStringJoiner, JoinWindows.ofTimeDifferenceAndGrace(100, 10), { name: 'oj' }).to('out');
        const driver = new TopologyTestDriver(builder.build());
        const out = reader(driver, 'out');
        driver.pipe('left', 'A0', 0, '0').pipe('right', '11', 1, '0');
        expect(out()).to.deep.equal([]);
        driver.pipe('left', 'A1', 1, '101').pipe('right', '10', 0, '101');
        expect(out()).to.deep.equal([]);
        driver.pipe('right', '100', 0, '112');
        expect(out()).to.deep.equal([
          [1, 'null+11', 0],
          [0, 'A0+null', 0],
        ]);
      }
    });

    it('KStreamKStreamOuterJoinTest.testEmitAllNonJoinedResultsForAsymmetricWindow: each side closes by its own bound', () => {
      const { builder, left, right } = twoStreams();
      left.outerJoin(right, toStringJoiner, JoinWindows.ofTimeDifferenceWithNoGrace(5).after(20), { name: 'oj' }).to('out');
      const driver = new TopologyTestDriver(builder.build());
      const out = reader(driver, 'out');
      driver.pipe('left', 'A0', 0, '29').pipe('left', 'A1', 1, '30').pipe('right', '12', 2, '31').pipe('right', '13', 3, '36');
      expect(out()).to.deep.equal([]);
      driver.pipe('right', '14', 4, '37');
      expect(out()).to.deep.equal([[2, 'null+12', 31]]);
      driver.pipe('right', '15', 5, '50');
      expect(out()).to.deep.equal([
        [0, 'A0+null', 29],
        [3, 'null+13', 36],
        [4, 'null+14', 37],
      ]);
    });

    it('emits null-key records of either side at once, and passes undefined (not null) for the missing side', () => {
      const { builder, left, right } = twoStreams();
      const seen: unknown[][] = [];
      left
        .outerJoin(right, (l, r, key) => {
          seen.push([l, r, key]);
          return 'x';
        }, JoinWindows.ofTimeDifferenceWithNoGrace(10), { name: 'oj' })
        .to('out');
      const driver = new TopologyTestDriver(builder.build());
      driver.pipe('left', 'L', null, '1').pipe('right', 'R', null, '2');
      expect(seen).to.deep.equal([
        ['L', undefined, null],
        [undefined, 'R', null],
      ]);
    });
  });

  describe('table-table joins', () => {
    function tables(kind: 'join' | 'leftJoin' | 'outerJoin'): { driver: TopologyTestDriver; out: () => Out[] } {
      const builder = new StreamsBuilder('tables');
      const left = builder.table<string, string>('left', { store: 'left' });
      const right = builder.table<string, string>('right', { store: 'right' });
      const joiner = (l: string | undefined, r: string | undefined): string => toStringJoiner(l, r);
      const joined = kind === 'join' ? left.join(right, joiner, { store: 'joined' }) : kind === 'leftJoin' ? left.leftJoin(right, joiner, { store: 'joined' }) : left.outerJoin(right, joiner, { store: 'joined' });
      joined.toStream().to('out');
      const topology = builder.build();
      expect(topology.groups.map((group) => [group.sources.map((source) => String(source.topic)).sort(), group.stores])).to.deep.equal([[['left', 'right'], ['left', 'right', 'joined', 'joined-join-timestamps']]]);
      const driver = new TopologyTestDriver(topology);
      return { driver, out: reader(driver, 'out') };
    }

    it('inner: a result while both sides have the key, updated from either side, deleted (a tombstone) when either deletes it', () => {
      const { driver, out } = tables('join');
      driver.pipe('left', 'a', 'k1', '1');
      expect(out(), 'the right has no k1').to.deep.equal([]);
      driver.pipe('right', 'x', 'k1', '5');
      expect(out()).to.deep.equal([['k1', 'a+x', 5]]);
      // The result's timestamp is the later of the update's and the other side's value's.
      driver.pipe('left', 'b', 'k1', '3');
      expect(out()).to.deep.equal([['k1', 'b+x', 5]]);
      expect(driver.store('joined').get('k1')).to.equal('b+x');
      driver.pipe('right', null, 'k1', '6');
      expect(out()).to.deep.equal([['k1', null, 6]]);
      expect(driver.store('joined').get('k1')).to.equal(undefined);
      driver.pipe('left', null, 'k1', '7');
      expect(out(), 'nothing to delete: the right has no k1').to.deep.equal([]);
      // As Kafka Streams: the deletion of a left key that never was, while the right has it, is forwarded as a tombstone.
      driver.pipe('right', 'y', 'k2', '8').pipe('left', null, 'k2', '9');
      expect(out()).to.deep.equal([['k2', null, 9]]);
      // A null key is ignored.
      driver.pipe('left', 'z', null, '10');
      expect(out()).to.deep.equal([]);
    });

    it('left: every left key, joined with undefined while the right lacks it; deleted only with the left key', () => {
      const { driver, out } = tables('leftJoin');
      driver.pipe('left', 'a', 'k1', '1');
      expect(out()).to.deep.equal([['k1', 'a+null', 1]]);
      driver.pipe('right', 'x', 'k1', '5');
      expect(out()).to.deep.equal([['k1', 'a+x', 5]]);
      driver.pipe('right', null, 'k1', '6');
      expect(out()).to.deep.equal([['k1', 'a+null', 6]]);
      driver.pipe('left', null, 'k1', '7');
      expect(out()).to.deep.equal([['k1', null, 7]]);
      expect(driver.store('joined').all()).to.deep.equal([]);
      driver.pipe('left', null, 'never', '8').pipe('right', 'z', 'k3', '9');
      expect(out(), 'a deletion of a key that never was; a right key without a left one').to.deep.equal([]);
      driver.pipe('right', null, 'k3', '10');
      expect(out()).to.deep.equal([]);
    });

    it('outer: every key of either side, joined with undefined for the missing one; deleted once neither has it', () => {
      const { driver, out } = tables('outerJoin');
      driver.pipe('right', 'z', 'k3', '1');
      expect(out()).to.deep.equal([['k3', 'null+z', 1]]);
      driver.pipe('left', 'c', 'k3', '2');
      expect(out()).to.deep.equal([['k3', 'c+z', 2]]);
      driver.pipe('left', null, 'k3', '3');
      expect(out()).to.deep.equal([['k3', 'null+z', 3]]);
      driver.pipe('right', null, 'k3', '4');
      expect(out()).to.deep.equal([['k3', null, 4]]);
      expect(driver.store('joined').all()).to.deep.equal([]);
      driver.pipe('right', null, 'never', '5').pipe('left', null, 'never', '6');
      expect(out()).to.deep.equal([]);
    });

    it('chains: a join result is a table (joined again, its deletes followed), and a source table\'s tombstones reach toStream', () => {
      const builder = new StreamsBuilder('chain');
      const a = builder.table<string, string>('a', { store: 'a' });
      const b = builder.table<string, string>('b', { store: 'b' });
      const c = builder.table<string, string>('c', { store: 'c' });
      a.join(b, (x, y) => `${x}${y}`, { store: 'ab' }).leftJoin(c, (xy, z) => `${xy}${z ?? '-'}`, { store: 'abc' }).toStream().to('out');
      a.toStream().to('a-changes');
      const driver = new TopologyTestDriver(builder.build());
      driver.pipe('a', '1', 'k', '1').pipe('b', '2', 'k', '2').pipe('c', '3', 'k', '3').pipe('b', null, 'k', '4').pipe('a', null, 'k', '5');
      expect(driver.output('out').map(({ value }) => value)).to.deep.equal(['12-', '123', null]);
      expect(driver.output('a-changes').map(({ value }) => value)).to.deep.equal(['1', null]);
    });
  });

  describe('stream-table join', () => {
    it('drops null values; a left join joins a null key with undefined (KIP-962), an inner join drops it', () => {
      const builder = new StreamsBuilder('st');
      const table = builder.table<string, string>('table', { store: 'table' });
      const stream = builder.stream<string | null, string | null>('stream');
      stream.join(table, (v, t) => `${v}+${t}`).to('inner');
      stream.leftJoin(table, (v, t) => `${v}+${t ?? 'null'}`).to('left');
      const driver = new TopologyTestDriver(builder.build());
      driver.pipe('table', 'T', 'k', '1').pipe('stream', 'v', 'k', '2').pipe('stream', null, 'k', '3').pipe('stream', 'n', null, '4').pipe('stream', 'w', 'none', '5');
      expect(driver.output('inner').map(({ key, value }) => [key, value])).to.deep.equal([['k', 'v+T']]);
      expect(driver.output('left').map(({ key, value }) => [key, value])).to.deep.equal([
        ['k', 'v+T'],
        [null, 'n+null'],
        ['none', 'w+null'],
      ]);
    });
  });

  describe('GlobalKTable', () => {
    function globalJoin(): { driver: TopologyTestDriver; inner: () => Out[]; left: () => Out[] } {
      const builder = new StreamsBuilder('global');
      const customers = builder.globalTable<string, { name: string }>('customers', { store: 'customers' });
      expect(customers).to.be.instanceOf(GlobalKTable);
      const orders = builder.stream<string | null, { customer?: string }>('orders');
      const selector = (_key: string | null, order: { customer?: string }): string | undefined => order.customer;
      orders.join(customers, selector, (order, customer, key) => `${key}:${order.customer}:${customer.name}`).to('inner');
      orders.leftJoin(customers, selector, (order, customer, key) => `${key}:${order.customer}:${customer?.name ?? 'null'}`).to('left');
      const topology = builder.build();
      // No co-partitioning: the global topic is no task's source.
      expect(topology.globalTables).to.deep.equal([{ topic: 'customers', store: 'customers' }]);
      expect(topology.groups.map((group) => group.sources.map((source) => source.topic))).to.deep.equal([['orders']]);
      const driver = new TopologyTestDriver(topology);
      return { driver, inner: reader(driver, 'inner'), left: reader(driver, 'left') };
    }

    it('looks up the key the selector picks, as the global table is when the record is processed; a tombstone deletes', () => {
      const { driver, inner, left } = globalJoin();
      driver.pipe('customers', { name: 'Ann' }, 'c1', '1').pipe('customers', { name: 'Bob' }, 'c2', '1');
      expect(driver.streamTime, 'a global table does not move stream time').to.equal(-1);
      driver.pipe('orders', { customer: 'c1' }, 'o1', '10').pipe('orders', { customer: 'c3' }, 'o2', '11');
      expect(inner()).to.deep.equal([['o1', 'o1:c1:Ann', 10]]);
      expect(left()).to.deep.equal([
        ['o1', 'o1:c1:Ann', 10],
        ['o2', 'o2:c3:null', 11],
      ]);
      driver.pipe('customers', { name: 'Ann B.' }, 'c1', '12').pipe('customers', null, 'c2', '12');
      expect(driver.store('customers').all().map(([key]) => key)).to.deep.equal(['c1']);
      driver.pipe('orders', { customer: 'c1' }, 'o3', '13').pipe('orders', { customer: 'c2' }, 'o4', '14');
      expect(inner()).to.deep.equal([['o3', 'o3:c1:Ann B.', 13]]);
      expect(left()).to.deep.equal([
        ['o3', 'o3:c1:Ann B.', 13],
        ['o4', 'o4:c2:null', 14],
      ]);
    });

    it('null results: a selector giving null drops the record (left join too, as Kafka Streams 3.9), except a null-key record in a left join; null values are dropped', () => {
      const { driver, inner, left } = globalJoin();
      driver.pipe('customers', { name: 'Ann' }, 'c1', '1');
      driver.pipe('orders', {}, 'o1', '10').pipe('orders', {}, null, '11').pipe('orders', { customer: 'c1' }, null, '12').pipe('orders', null, 'o2', '13');
      expect(inner()).to.deep.equal([[null, 'null:c1:Ann', 12]]);
      expect(left()).to.deep.equal([
        [null, 'null:undefined:null', 11],
        [null, 'null:c1:Ann', 12],
      ]);
    });

    it('is read-only for tasks, and a topic is either a global table or a source', () => {
      const builder = new StreamsBuilder('global');
      builder.globalTable('g', { store: 'g' });
      expect(() => builder.stream('g')).to.throw(LightError, /global table/);
      expect(() => builder.globalTable('g', { store: 'g2' })).to.throw(LightError, /read twice/);
      expect(() => builder.table('t', { store: 'g' })).to.throw(LightError, /declared twice/);
      const stream = builder.stream<string, string>('s');
      builder.process([stream as KStream<unknown, unknown>], [], (_record, context) => context.store('g').put('k', 'v'));
      const driver = new TopologyTestDriver(builder.build());
      expect(() => driver.pipe('s', 'v', 'k', '1')).to.throw(/read-only/);
    });
  });
});
