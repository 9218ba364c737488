/** Profiles LightConsumer on the local broker (CONFIG=full for the full unsampled chain): node --cpu-prof dist/bench/profile-consume.js */
import { ensureKafka } from '../scripts/kafka-local.js';
import { benchConfigs, valueOfSize } from './lib/fixtures.js';
import { consumeLight, consumeRaw, produceRaw, rawKafka, rawProducer } from './lib/workloads.js';

process.env.LOG_LEVEL ??= 'error';
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const kafka = await ensureKafka({ log: () => undefined });
const configs = await benchConfigs(kafka.brokers, 9);
const topic = `profile-consume-${Date.now().toString(36)}`;
const raw = rawKafka(kafka.brokers);
const producer = await rawProducer(raw);
const count = Number(process.env.COUNT ?? 60_000);
const values = Array.from({ length: 64 }, (_, n) => Buffer.from(JSON.stringify(valueOfSize(n, 100))));
await produceRaw(producer, { topic, count, size: 100, batchSize: 500 }, values, { Authorization: `Bearer ${configs.token}`, 'X-Correlation-Id': 'c' });
await producer.disconnect();
const rawSeconds = await consumeRaw(raw, topic, count);
const lightSeconds = await consumeLight(process.env.CONFIG === 'full' ? configs.fullUnsampled : configs.empty, topic, count);
console.log(`raw ${(count / rawSeconds).toFixed(0)}/s, light ${(count / lightSeconds).toFixed(0)}/s, ratio ${(rawSeconds / lightSeconds).toFixed(2)}`);
process.exit(0);
