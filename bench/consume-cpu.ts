/**
 * Where a raw consume spends its CPU: the main thread's busy seconds (from /proc/self/task/<tid>/stat) while raw
 * kafkajs and raw librdkafka (the bench's raw rows' code) each read COUNT records of 100 B (default 300,000, 3
 * partitions), two rounds, against the local broker or KAFKA_BROKERS. Linux only.
 *
 *   npm run build && node dist/bench/consume-cpu.js
 */
import { readFileSync } from 'node:fs';
import { ensureKafka } from '../scripts/kafka-local.js';
import { valueOfSize } from './lib/fixtures.js';
import { consumeRd, librdkafkaClient, rawRdkafka } from './lib/rdkafka-raw.js';
import { consumeRaw, produceRaw, rawKafka, rawProducer } from './lib/workloads.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const TICKS_PER_SECOND = 100;

/** User + system CPU seconds of a /proc stat file (fields 14 and 15). */
function cpuSeconds(statFile: string): number {
  const stat = readFileSync(statFile, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

const kafka = await ensureKafka({ log: () => undefined });
const count = Number(process.env.COUNT ?? 300_000);
const raw = rawKafka(kafka.brokers);
const topic = `consume-cpu-${Date.now().toString(36)}`;
const admin = raw.admin();
await admin.connect();
await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
await admin.disconnect();
const producer = await rawProducer(raw);
const values = Array.from({ length: 64 }, (_, n) => Buffer.from(JSON.stringify(valueOfSize(n, 100))));
await produceRaw(producer, { topic, count, size: 100, batchSize: 500 }, values, { 'X-Correlation-Id': 'c' });
await producer.disconnect();

const librdkafka = librdkafkaClient();
const rows: [string, () => Promise<number>][] = [['raw kafkajs', () => consumeRaw(raw, topic, count)]];
if (librdkafka.module) {
  const rd = rawRdkafka(librdkafka.module);
  rows.push(['raw librdkafka', () => consumeRd(rd, kafka.brokers, topic, count)]);
} else console.log(librdkafka.skipped);
const mainThread = `/proc/self/task/${process.pid}/stat`;
for (let round = 1; round <= 2; round++) {
  for (const [name, consume] of rows) {
    const before = cpuSeconds(mainThread);
    const seconds = await consume();
    // Busy time includes the group join, which the measured seconds (first to last record) leave out.
    const busy = cpuSeconds(mainThread) - before;
    console.log(`${name}: ${Math.round(count / seconds).toLocaleString('en')} records/s over ${seconds.toFixed(2)} s; main thread busy ${busy.toFixed(2)} s (${((busy / count) * 1e6).toFixed(1)} µs a record)`);
  }
}
process.exit(0);
