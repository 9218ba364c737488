// Final results of a suppressed windowed count on a real broker, exactly_once, across a restart that restores every
// store (the windows, the aggregation's stream time, the pending results) from its changelog.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LightService, StreamsBuilder, Suppressed, TimeWindows, windowedKeyString } from '../../index.js';
import { streamsServiceConfig } from '../support/config-dir.js';
import { createTopics, produceRaw, readToEnd, uniqueName, waitFor } from '../support/kafka.js';

function streamsConfig(applicationId: string, stateDir: string): string {
  return streamsServiceConfig('windows-test', applicationId, stateDir);
}

/** Counts clicks per key in 1 s windows (grace 0.5 s) of the time in their value; final results to `output`. */
function finalCounts(builder: StreamsBuilder, input: string, output: string): void {
  builder
    .stream<string, { t: number }>(input, { timestampExtractor: (record) => record.value.t })
    .groupByKey()
    .windowedBy(TimeWindows.ofSizeAndGrace(1000, 500))
    .count({ store: 'clicks' })
    .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
    .toStream()
    .selectKey(windowedKeyString)
    .to(output);
}

const clicks = (records: [string, number][]): { key: string; value: string }[] => records.map(([key, t]) => ({ key, value: JSON.stringify({ t }) }));

describe('LightStreams windows @broker', function () {
  this.timeout(120_000);
  const folders: string[] = [];
  after(() => folders.forEach((folder) => rmSync(folder, { recursive: true, force: true })));

  it('exactly_once: a suppressed windowed count emits each final result once, across a restart restoring its stores from their changelogs', async () => {
    const input = uniqueName('windows-in');
    const output = uniqueName('windows-out');
    await createTopics([input, output], 1);
    const stateDir = mkdtempSync(join(tmpdir(), 'light-kafka-windows-'));
    folders.push(stateDir);
    const dir = streamsConfig(uniqueName('windows-eos'), stateDir);
    folders.push(dir);
    const start = async (): Promise<LightService> => {
      const service = await LightService.create({ configDir: dir });
      finalCounts(service.streams.builder(), input, output);
      await service.start();
      return service;
    };

    // 1. Windows [0,1000) and [1000,2000) fill up; k0 at 1600 closes [0,1000) (1600 >= 1000 + 500): three final results.
    const first = await start();
    try {
      await produceRaw(input, clicks([['k0', 100], ['k1', 200], ['k2', 300], ['k0', 900], ['k1', 900], ['k2', 950], ['k0', 950], ['k1', 999], ['k2', 999]]));
      await produceRaw(input, clicks([['k0', 1100], ['k1', 1200], ['k2', 1300], ['k0', 1200], ['k1', 1400], ['k2', 1400], ['k0', 1600]]));
      await waitFor(async () => (await readToEnd(output)).length >= 3, 60_000, 'the final results of [0,1000)');
    } finally {
      await first.stop();
    }

    // 2. Local state wiped: the service restores the window store, its stream time and the pending results from the
    //    changelogs. k1 at 1300 still counts (in grace); k2 at 950 is late (its window closed before the restart);
    //    k0 at 2600 closes [1000,2000), k0 at 4000 closes [2000,3000).
    rmSync(stateDir, { recursive: true, force: true });
    const second = await start();
    try {
      await produceRaw(input, clicks([['k1', 1300], ['k2', 950], ['k0', 2600], ['k0', 4000]]));
      await waitFor(async () => (await readToEnd(output)).length >= 7, 60_000, 'the final results of [1000,2000) and [2000,3000)');
    } finally {
      await second.stop();
    }

    const results = (await readToEnd(output)).map(({ key, value }) => `${key}=${value}`);
    expect(results).to.deep.equal([
      'k0@0000000000000=3',
      'k1@0000000000000=3',
      'k2@0000000000000=3',
      'k0@0000000001000=3',
      'k1@0000000001000=3',
      'k2@0000000001000=2',
      'k0@0000000002000=1',
    ]);
    const dropped = (await second.metricsRegistry.getSingleMetric('light_kafka_streams_dropped_records_total')?.get())?.values ?? [];
    expect(dropped.map(({ labels, value }) => [labels.reason, labels.store, value])).to.deep.equal([['expired-window', 'clicks', 1]]);
  });
});
