import { releaseBroker, useBroker } from './broker.js';
import { appendFileSync } from 'node:fs';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { releaseCluster } from './cluster.js';
import { FileDurations, slowestFiles } from './file-durations.js';
import { releaseRegistry } from './registry.js';
import { releaseSkyWalking } from './skywalking.js';

const durations = new FileDurations();

// Quiet service logs in test output unless asked for.
process.env.LOG_LEVEL ??= 'error';
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

/** A real broker for tests tagged @broker (KAFKA_BROKERS, one already running, or one started on first use). */
export const mochaHooks = {
  async beforeEach(this: Mocha.Context): Promise<void> {
    durations.testStarts(this.currentTest?.file);
    if (!this.currentTest?.fullTitle().includes('@broker')) return;
    this.timeout(600_000);
    await useBroker();
  },
  afterEach(): void {
    durations.testEnds();
  },
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    // Run by the suite runner (parallel workers: this runs after each file): the times go to its file; run by plain
    // mocha: the table now.
    const times = durations.flush();
    const sink = process.env.LIGHT_KAFKA_TEST_TIMINGS;
    if (sink) appendFileSync(sink, times.map((time) => `${JSON.stringify(time)}\n`).join(''));
    else {
      const lines = slowestFiles(times, 10, PACKAGE_ROOT);
      if (lines.length > 0) console.log(`\n${lines.join('\n')}`);
    }
    await releaseCluster();
    await releaseRegistry();
    await releaseSkyWalking();
    await releaseBroker();
  },
};
