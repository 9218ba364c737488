/** Profiles LightProducer on the local broker (CONFIG=full for the full unsampled chain): node --cpu-prof dist/bench/profile-produce.js */
import { ensureKafka } from '../scripts/kafka-local.js';
import { benchConfigs, valueOfSize } from './lib/fixtures.js';
import { lightService, produceLight, produceRaw, rawKafka, rawProducer } from './lib/workloads.js';

process.env.LOG_LEVEL ??= 'error';
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const kafka = await ensureKafka({ log: () => undefined });
const configs = await benchConfigs(kafka.brokers, 9);
const topic = `profile-produce-${Date.now().toString(36)}`;
const count = Number(process.env.COUNT ?? 100_000);
const objects = Array.from({ length: 64 }, (_, n) => valueOfSize(n, 100));
const buffers = objects.map((value) => Buffer.from(JSON.stringify(value)));
const headers = { Authorization: `Bearer ${configs.token}` };
const workload = { topic, count, size: 100, batchSize: 500 };
const raw = rawKafka(kafka.brokers);
const producer = await rawProducer(raw);
await produceRaw(producer, { ...workload, count: 10_000 }, buffers, headers);
const rawSeconds = await produceRaw(producer, workload, buffers, headers);
await producer.disconnect();
const service = await lightService(process.env.CONFIG === 'full' ? configs.fullUnsampled : configs.empty);
await service.start();
await produceLight(service, { ...workload, count: 10_000 }, objects, headers);
const lightSeconds = await produceLight(service, workload, objects, headers);
await service.stop();
console.log(`raw ${(count / rawSeconds).toFixed(0)}/s, light ${(count / lightSeconds).toFixed(0)}/s, ratio ${(rawSeconds / lightSeconds).toFixed(2)}`);
process.exit(0);
