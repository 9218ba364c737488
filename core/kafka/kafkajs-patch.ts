import { createRequire } from 'node:module';
import { LightError } from '../errors/light-error.js';

const require = createRequire(import.meta.url);
const PATCH_MARKER = Symbol.for('light-kafka.kafkajs-send-retry-patch');
const SEND_MESSAGES = 'kafkajs/src/producer/sendMessages.js';

/**
 * kafkajs 2.2.4's produce retry can resolve a send with records unsent, or re-send a batch under new sequence
 * numbers, when a partition leader fails over (upstream issue #1303). patches/kafkajs@2.2.4/ fixes it at
 * install time (scripts/patch-kafkajs.mjs, the package's postinstall, wherever the package is installed).
 * Without the patch LightProducer refuses to start rather than risk acknowledged records silently lost;
 * LIGHT_KAFKA_ALLOW_UNPATCHED_KAFKAJS=1 accepts the risk (single-broker development).
 */
export function assertKafkajsPatched(env: NodeJS.ProcessEnv = process.env): void {
  if (env.LIGHT_KAFKA_ALLOW_UNPATCHED_KAFKAJS === '1') return;
  const path = require.resolve(SEND_MESSAGES);
  const patched = (require(SEND_MESSAGES) as Record<symbol, unknown>)[PATCH_MARKER] === true;
  if (!patched) throw new LightError('ERR12008', { path });
}
