import { releaseBroker, useBroker } from './broker.js';
import { FileDurations } from './file-durations.js';
import { releaseRegistry } from './registry.js';

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
    const lines = durations.report();
    if (lines.length > 0) console.log(`\n${lines.join('\n')}`);
    await releaseRegistry();
    await releaseBroker();
  },
};
