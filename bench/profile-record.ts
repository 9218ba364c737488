/** Profiles the consumer's per-record work: node --cpu-prof dist/bench/profile-record.js (no Kafka needed). */
import { consumerRecordMicros } from './lib/in-process.js';

console.log(`consumer per-record work: ${(await consumerRecordMicros(Number(process.env.ITERATIONS ?? 300_000))).toFixed(2)} µs/record`);
