import { ensureKafka, type KafkaHandle } from '../../scripts/kafka-local.js';

/**
 * The broker, started on first use: a test that needs one is tagged `@broker` in its suite's title, and the root
 * hook calls this before each such test (a suite's own `before` hook calls it too when it needs the broker
 * earlier). `npm run test:unit` sets LIGHT_KAFKA_UNIT=1 and skips @broker tests; a test that reaches for the broker
 * there without the tag fails here, loudly, instead of starting Java.
 */
let broker: Promise<KafkaHandle> | undefined;

export function useBroker(): Promise<string> {
  if (process.env.LIGHT_KAFKA_UNIT) {
    return Promise.reject(new Error('this test needs a broker: tag its describe title with @broker (npm run test:unit skips those)'));
  }
  broker ??= ensureKafka().then((handle) => {
    process.env.KAFKA_BROKERS = handle.brokers;
    return handle;
  });
  return broker.then((handle) => handle.brokers);
}

/** Stops the broker if this run started it (and LIGHT_KAFKA_KEEP_BROKER is not set). */
export async function releaseBroker(): Promise<void> {
  if (!broker) return;
  const handle = await broker.catch(() => undefined);
  broker = undefined;
  if (handle?.owned && !process.env.LIGHT_KAFKA_KEEP_BROKER) await handle.stop();
}
