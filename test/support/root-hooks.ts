import { releaseBroker, useBroker } from './broker.js';
import { releaseRegistry } from './registry.js';

// Quiet service logs in test output unless asked for.
process.env.LOG_LEVEL ??= 'error';
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

/** A real broker for tests tagged @broker (KAFKA_BROKERS, one already running, or one started on first use). */
export const mochaHooks = {
  async beforeEach(this: Mocha.Context): Promise<void> {
    if (!this.currentTest?.fullTitle().includes('@broker')) return;
    this.timeout(600_000);
    await useBroker();
  },
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    await releaseRegistry();
    await releaseBroker();
  },
};
