/** Profiles the in-process full consume chain: node --cpu-prof dist/bench/profile-chain.js (no Kafka needed). */
import { benchConfigs, validateTopics, valueOfSize } from './lib/fixtures.js';
import { fullChainMicros } from './lib/in-process.js';
import { lightService } from './lib/workloads.js';

process.env.LOG_LEVEL ??= 'error';
const configs = await benchConfigs('127.0.0.1:1', 9);
validateTopics(configs.fullUnsampled, ['profiled']);
const service = await lightService(configs.fullUnsampled);
const micros = await fullChainMicros(service, 'profiled', configs.token, valueOfSize(1, 100), Number(process.env.ITERATIONS ?? 20_000));
console.log(`full consume chain: ${micros.toFixed(2)} µs/record`);
process.exit(0);
