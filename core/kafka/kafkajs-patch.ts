import { createRequire } from 'node:module';
import { LightError } from '../errors/light-error.js';

const require = createRequire(import.meta.url);

/** Each file patches/kafkajs@2.2.4/ replaces, and the marker its patched version exports. */
const PATCHED_FILES: readonly { module: string; marker: symbol }[] = [
  { module: 'kafkajs/src/producer/sendMessages.js', marker: Symbol.for('light-kafka.kafkajs-send-retry-patch') },
  { module: 'kafkajs/src/producer/eosManager/index.js', marker: Symbol.for('light-kafka.kafkajs-transaction-retry-patch') },
  { module: 'kafkajs/src/producer/index.js', marker: Symbol.for('light-kafka.kafkajs-transaction-retry-patch') },
];

/**
 * kafkajs 2.2.4's produce retry can resolve a send with records unsent, or re-send a batch under new sequence
 * numbers, when a partition leader fails over (upstream issue #1303); and it sends a transaction's AddOffsetsToTxn
 * and EndTxn once, so a coordinator still finishing the previous transaction fails this one. patches/kafkajs@2.2.4/
 * fixes both at install time (scripts/patch-kafkajs.mjs, the package's postinstall, wherever the package is
 * installed). Without the patch LightProducer refuses to start rather than risk acknowledged records silently lost;
 * LIGHT_KAFKA_ALLOW_UNPATCHED_KAFKAJS=1 accepts the risk (single-broker development).
 */
export function assertKafkajsPatched(env: NodeJS.ProcessEnv = process.env): void {
  if (env.LIGHT_KAFKA_ALLOW_UNPATCHED_KAFKAJS === '1') return;
  for (const { module, marker } of PATCHED_FILES) {
    if ((require(module) as Record<symbol, unknown>)[marker] !== true) throw new LightError('ERR12008', { path: require.resolve(module) });
  }
}
