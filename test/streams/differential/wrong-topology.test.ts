import { expect } from 'chai';
import { TimeWindows } from '../../../index.js';
import { runDifferential } from '../../support/differential/harness.js';
import { streamTableJoin, tumblingCount, type Value } from './cases.js';

/** TEMPORARY: shows that the harness catches deliberately wrong LightStreams topologies (removed in the next commit). */
describe('differential harness catches wrong topologies @broker @kafka-streams', function () {
  this.timeout(300_000);

  it('a tumbling count that drops records more than 5 s behind the newest (as a too eager grace would)', async () => {
    const report = await runDifferential(tumblingCount, {
      light: ({ builder, topic, out, params }) => {
        let newest = -1;
        builder
          .stream<string, Value | null>(topic('in'))
          .filter(() => true)
          .groupByKey()
          .windowedBy(TimeWindows.ofSizeMs(params.sizeMs!))
          .count({ store: 'counts' })
          .filter((_key, window) => {
            newest = Math.max(newest, window.windowStart);
            return window.windowStart >= newest - 5000;
          })
          .map((_key, window) => [`${window.key}@${window.windowStart}`, { count: window.count }])
          .to(out('count'));
      },
    });
    console.log(report.text);
    expect(report.equal).to.equal(false);
  });

  it('a stream-table join whose inner output is a left join', async () => {
    const report = await runDifferential(streamTableJoin, {
      light: ({ builder, topic, out }) => {
        const table = builder.table<string, Value>(topic('table'), { store: 'table' });
        const stream = builder.stream<string, Value | null>(topic('in'));
        const joined = (value: Value | null, tableValue: Value | undefined) => ({ s: value?.id ?? null, t: tableValue?.id ?? null });
        stream.leftJoin(table, joined).to(out('inner'));
        stream.leftJoin(table, joined).to(out('left'));
      },
    });
    console.log(report.text);
    expect(report.equal).to.equal(false);
  });
});
