/**
 * `npm run bench`: what the chain costs, against raw kafkajs and Kafka's own Java client, on the local real
 * broker (or KAFKA_BROKERS). Writes bench/results/latest.{json,md}, throughput.png, and the table into
 * bench/README.md. BENCH_REPS sets the repetitions (default 3, after one warm-up).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_KAFKA_VERSION, ensureKafka } from '../scripts/kafka-local.js';
import { PACKAGE_ROOT } from '../core/package-root.js';
import { isMain } from '../scripts/is-main.js';
import type { LightService } from '../index.js';
import { benchConfigs, udpSink, validateTopics, valueOfSize } from './lib/fixtures.js';
import { chainOverheadMicros, consumerRecordMicros, fullChainMicros } from './lib/in-process.js';
import { javaConsumerPerformance, javaProducerPerformance } from './lib/java-anchor.js';
import { markdownTable, ratioOf, throughputChart, writeResults, type Row } from './lib/report.js';
import { targetChecks } from './lib/targets.js';
import { pingPongRaw, roundTripsLight, transfersLight, type RoundTrips } from './lib/command-workloads.js';
import { fillDistinctKeys, STREAM_JOIN, streamsLight, streamsRaw, streamsRestore, WINDOWED_COUNT } from './lib/streams-workloads.js';
import { consumeRd, isLibrdkafkaRow, librdkafkaClient, produceRd, rawRdkafka, rdProducer, type LibrdkafkaClient } from './lib/rdkafka-raw.js';
import { Progress, repeat, summarize, type Summary } from './lib/stats.js';
import { consumeHandWritten, handWritten, produceHandWritten, type HandWritten } from './lib/hand-written.js';
import {
  consumeLight,
  consumeRaw,
  latency,
  lightService,
  produceLight,
  produceRaw,
  rawKafka,
  rawProducer,
  transactionsLight,
  transactionsRaw,
  type LatencyResult,
} from './lib/workloads.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
process.env.LOG_LEVEL ??= 'error';

/** `npm run bench -- --quick`: the headline rows once each, results in bench/results/quick.{json,md}. */
const QUICK = process.argv.includes('--quick');
const REPS = QUICK ? 1 : Number(process.env.BENCH_REPS ?? 3);
const HEADLINE_IMPLS = '(raw kafkajs|raw librdkafka|light, empty chain|light, full chain \\(unsampled\\)|librdkafka, empty chain)';
const HEADLINE = [
  new RegExp(`^produce 100 B, batches of 500: ${HEADLINE_IMPLS}$`),
  /^fill .*-consume-100$/,
  new RegExp(`^consume 100 B: ${HEADLINE_IMPLS}$`),
  new RegExp(`^transactions of 1000 records \\(100 B\\): ${HEADLINE_IMPLS}$`),
  /^in-process full consume chain$/,
  /^fill .*-io$/,
  /^handler awaiting/,
];
const WARMUPS = 1;
const SIZES = [100, 1024] as const;
const BATCHED: Record<number, number> = { 100: 30_000, 1024: 15_000 };
const BATCH_SIZE = 500;
const SINGLE_COUNT = 1_500;
const TX_SHAPES = [
  { perTransaction: 1, transactions: 100 },
  { perTransaction: 100, transactions: 20 },
  { perTransaction: 1000, transactions: 4 },
];
const LATENCY_RATE = 400;
const IO_MS = 5;
const IO_RECORDS = 1_000;
const LATENCY_SECONDS = 4;
const KEYS_STREAMS = 64;
const RESTORE_KEYS = 30_000;
const RESULTS_DIR = join(PACKAGE_ROOT, 'bench', 'results');
const ROUND_TRIPS = 300;
const TRANSFERS = 500;
const TRANSFER_ACCOUNTS = 50;

const RAW = 'raw kafkajs';
const EMPTY = 'light, empty chain';
const UNSAMPLED = 'light, full chain (unsampled)';
const SAMPLED = 'light, full chain (sampled)';
const JAVA = 'java client';
const RD_RAW = 'raw librdkafka';
const RD_EMPTY = 'librdkafka, empty chain';
const RD_FULL = 'librdkafka, full chain (unsampled)';
/** The full chain's concerns written by hand around raw kafkajs (bench/lib/hand-written.ts), per sampling. */
const HAND = { unsampled: 'hand-written (same concerns, raw kafkajs, unsampled)', sampled: 'hand-written (same concerns, raw kafkajs, sampled)' } as const;
/** The full-chain row each hand-written row is compared with. */
const HAND_AGAINST = { unsampled: UNSAMPLED, sampled: SAMPLED } as const;

/**
 * The rows a run does: BENCH_ONLY's, or the headline rows (--quick), or all of them; none of the librdkafka rows
 * when its optional client cannot be loaded. BENCH_ONLY matches labels only: a consume row needs its fill row
 * (`fill <prefix>-consume-<size>`) matched too.
 */
export function chooseTasks<T extends { label: string }>(tasks: T[], options: { only?: RegExp; quick: boolean; librdkafka: LibrdkafkaClient }): T[] {
  const { only, quick, librdkafka } = options;
  const chosen = only ? tasks.filter((task) => only.test(task.label)) : quick ? tasks.filter((task) => HEADLINE.some((pattern) => pattern.test(task.label))) : tasks;
  return librdkafka.module ? chosen : chosen.filter((task) => !isLibrdkafkaRow(task.label));
}

async function main(): Promise<void> {
  // A README install (`npm ci`, no CKJS_LINKING) has no librdkafka client: its rows are skipped, the rest run.
  const librdkafka = librdkafkaClient(process.env.BENCH_LIBRDKAFKA_MODULE);
  if (librdkafka.skipped) console.log(librdkafka.skipped);
  const kafka = await ensureKafka({ log: () => undefined });
  const brokers = kafka.brokers;
  const sink = await udpSink();
  const configs = await benchConfigs(brokers, sink.port);
  const prefix = `bench-${Date.now().toString(36)}`;
  const topics = {
    produce: `${prefix}-produce`,
    consume: Object.fromEntries(SIZES.map((size) => [size, `${prefix}-consume-${size}`])) as Record<number, string>,
    tx: `${prefix}-tx`,
    latency: { raw: `${prefix}-latency-raw`, empty: `${prefix}-latency-empty`, sampled: `${prefix}-latency-full`, rdEmpty: `${prefix}-latency-rd-empty` },
    java: `${prefix}-java`,
    io: `${prefix}-io`,
    streamsIn: `${prefix}-streams-in`,
    streamsOut: `${prefix}-streams-out`,
    streamsChangelog: `${prefix}-streams-raw-changelog`,
    streamsRestore: `${prefix}-streams-restore`,
    ping: { requests: `${prefix}-ping`, replies: `${prefix}-pong` },
  };
  const allTopics = [topics.produce, ...Object.values(topics.consume), topics.tx, ...Object.values(topics.latency), topics.java, topics.io, topics.streamsIn, topics.streamsOut, topics.streamsChangelog, topics.streamsRestore, topics.ping.requests, topics.ping.replies];
  for (const dir of [configs.fullSampled, configs.fullUnsampled, ...(librdkafka.module ? [configs.librdkafka.fullUnsampled] : [])]) validateTopics(dir, allTopics);
  const raw = rawKafka(brokers);
  const admin = raw.admin();
  await admin.connect();
  // The I/O concurrency rows read one partition; every other topic has three.
  await admin.createTopics({ topics: allTopics.map((topic) => ({ topic, numPartitions: topic === topics.io ? 1 : 3, replicationFactor: 1 })), waitForLeaders: true });
  await admin.disconnect();

  const headers = { Authorization: `Bearer ${configs.token}` };
  const objects = Object.fromEntries(SIZES.map((size) => [size, Array.from({ length: 64 }, (_, n) => valueOfSize(n, size))])) as Record<number, object[]>;
  const buffers = Object.fromEntries(SIZES.map((size) => [size, objects[size]!.map((value) => Buffer.from(JSON.stringify(value)))])) as Record<number, Buffer[]>;

  const producer = await rawProducer(raw);
  // The librdkafka clients and services exist only when its client loads (their rows are not chosen otherwise).
  const rd = librdkafka.module ? rawRdkafka(librdkafka.module) : undefined;
  const rdPlain = rd ? await rdProducer(rd, brokers) : undefined;
  const services: Record<string, LightService> = {
    [EMPTY]: await lightService(configs.empty),
    [UNSAMPLED]: await lightService(configs.fullUnsampled),
    [SAMPLED]: await lightService(configs.fullSampled),
    ...(librdkafka.module ? { [RD_EMPTY]: await lightService(configs.librdkafka.empty), [RD_FULL]: await lightService(configs.librdkafka.fullUnsampled) } : {}),
  };
  for (const service of Object.values(services)) await service.start();
  const lightImpls = [EMPTY, UNSAMPLED, SAMPLED, RD_EMPTY, RD_FULL];
  // The full-chain rows' results by `<measurement>: <impl>`, for the hand-written rows' ratio to them.
  const measured = new Map<string, Summary>();
  /** The hand-written row's note: its rate against the full chain's in this run (when that row ran). */
  const handNote = (name: string, sampling: keyof typeof HAND, value: Summary): string | undefined => {
    const full = measured.get(`${name}: ${HAND_AGAINST[sampling]}`);
    return full ? `(${(full.median / value.median).toFixed(2)}x: ${HAND_AGAINST[sampling]} against this row)` : undefined;
  };
  const handWrittenFor = (sampling: keyof typeof HAND): Promise<HandWritten> => handWritten(sampling === 'sampled' ? configs.fullSampled : configs.fullUnsampled, sink.port, sampling === 'sampled', brokers.split(',')[0]!);

  const rows: Row[] = [];
  const javaRss: number[] = [];
  const tasks: { label: string; run: () => Promise<void> }[] = [];
  const add = (label: string, run: () => Promise<void>): void => void tasks.push({ label, run });
  // librdkafka consumers slow this process's JavaScript for a while after they stop (measured: a pass-through
  // chain 0.10 -> 0.33 µs/record after one consume run), so every row with a librdkafka consumer runs last.
  const lateTasks: { label: string; run: () => Promise<void> }[] = [];
  const addLate = (label: string, run: () => Promise<void>): void => void lateTasks.push({ label, run });

  // 1-3, 5: produce throughput.
  const produceScenarios = [
    ...SIZES.map((size) => ({ name: `produce ${size} B, batches of ${BATCH_SIZE}`, size, count: BATCHED[size]!, batchSize: BATCH_SIZE })),
    { name: 'produce 100 B, single awaited sends', size: 100, count: SINGLE_COUNT, batchSize: 1 },
  ];
  for (const scenario of produceScenarios) {
    const workload = { topic: topics.produce, count: scenario.count, size: scenario.size, batchSize: scenario.batchSize };
    let baseline!: Summary;
    add(`${scenario.name}: ${RAW}`, async () => {
      baseline = throughput(scenario.count, await repeat(REPS, WARMUPS, () => produceRaw(producer, workload, buffers[scenario.size]!, headers)));
      rows.push({ section: 'produce', name: scenario.name, impl: RAW, unit: 'records/s', value: baseline, recordSize: scenario.size, higherIsBetter: true });
    });
    add(`${scenario.name}: ${RD_RAW}`, async () => {
      const value = throughput(scenario.count, await repeat(REPS, WARMUPS, () => produceRd(rdPlain!, workload, buffers[scenario.size]!, headers)));
      rows.push({ section: 'produce', name: scenario.name, impl: RD_RAW, unit: 'records/s', value, baseline, recordSize: scenario.size, higherIsBetter: true });
    });
    for (const impl of lightImpls) {
      add(`${scenario.name}: ${impl}`, async () => {
        const value = throughput(scenario.count, await repeat(REPS, WARMUPS, () => produceLight(services[impl]!, workload, objects[scenario.size]!, headers)));
        measured.set(`${scenario.name}: ${impl}`, value);
        rows.push({ section: 'produce', name: scenario.name, impl, unit: 'records/s', value, baseline, recordSize: scenario.size, higherIsBetter: true });
      });
    }
    if (scenario.batchSize > 1) {
      for (const sampling of ['unsampled', 'sampled'] as const) {
        add(`${scenario.name}: ${HAND[sampling]}`, async () => {
          const hw = await handWrittenFor(sampling);
          const value = throughput(scenario.count, await repeat(REPS, WARMUPS, () => produceHandWritten(producer, hw, workload, objects[scenario.size]!, headers)));
          await hw.close();
          const note = handNote(scenario.name, sampling, value);
          rows.push({ section: 'produce', name: scenario.name, impl: HAND[sampling], unit: 'records/s', value, baseline, recordSize: scenario.size, higherIsBetter: true, ...(note ? { note } : {}) });
        });
      }
    }
    if (scenario.batchSize > 1) {
      add(`${scenario.name}: ${JAVA}`, async () => {
        const results = await repeatJava(() => javaProducerPerformance(brokers, topics.java, scenario.count, scenario.size));
        rows.push({ section: 'produce', name: scenario.name, impl: JAVA, unit: 'records/s', value: results.value, baseline, recordSize: scenario.size, higherIsBetter: true, note: '(ProducerPerformance, its own batching)' });
        javaRss.push(...results.rss);
      });
    }
  }

  // 1-3, 5: consume throughput from a pre-filled topic. Records carry a valid token and a correlation id but no
  // trace context: a record from a sampled producer span is sampled on the consumer too (parent-based sampling),
  // so the unsampled row needs unsampled records; the sampled row's tracer samples every root.
  for (const size of SIZES) {
    const count = BATCHED[size]!;
    const name = `consume ${size} B`;
    add(`fill ${topics.consume[size]}`, async () => {
      await produceRaw(producer, { topic: topics.consume[size]!, count, size, batchSize: BATCH_SIZE }, buffers[size]!, { ...headers, 'X-Correlation-Id': 'bench-consume' });
    });
    let baseline!: Summary;
    add(`${name}: ${RAW}`, async () => {
      baseline = throughput(count, await repeat(REPS, WARMUPS, () => consumeRaw(raw, topics.consume[size]!, count)));
      rows.push({ section: 'consume', name, impl: RAW, unit: 'records/s', value: baseline, recordSize: size, higherIsBetter: true });
    });
    addLate(`${name}: ${RD_RAW}`, async () => {
      const value = throughput(count, await repeat(REPS, WARMUPS, () => consumeRd(rd!, brokers, topics.consume[size]!, count)));
      rows.push({ section: 'consume', name, impl: RD_RAW, unit: 'records/s', value, baseline, recordSize: size, higherIsBetter: true });
    });
    const consumers = [[EMPTY, configs.empty], [UNSAMPLED, configs.fullUnsampled], [SAMPLED, configs.fullSampled], [RD_EMPTY, configs.librdkafka.empty], [RD_FULL, configs.librdkafka.fullUnsampled]] as const;
    for (const [impl, dir] of consumers) {
      (impl === RD_EMPTY || impl === RD_FULL ? addLate : add)(`${name}: ${impl}`, async () => {
        const value = throughput(count, await repeat(REPS, WARMUPS, () => consumeLight(dir, topics.consume[size]!, count)));
        measured.set(`${name}: ${impl}`, value);
        rows.push({ section: 'consume', name, impl, unit: 'records/s', value, baseline, recordSize: size, higherIsBetter: true });
      });
    }
    for (const sampling of ['unsampled', 'sampled'] as const) {
      add(`${name}: ${HAND[sampling]}`, async () => {
        const value = throughput(count, await repeat(REPS, WARMUPS, () => consumeHandWritten(raw, topics.consume[size]!, count, () => handWrittenFor(sampling))));
        const note = handNote(name, sampling, value);
        rows.push({ section: 'consume', name, impl: HAND[sampling], unit: 'records/s', value, baseline, recordSize: size, higherIsBetter: true, ...(note ? { note } : {}) });
      });
    }
    add(`${name}: ${JAVA}`, async () => {
      const results = await repeatJava(() => javaConsumerPerformance(brokers, topics.consume[size]!, count));
      rows.push({ section: 'consume', name, impl: JAVA, unit: 'records/s', value: results.value, baseline, recordSize: size, higherIsBetter: true, note: '(ConsumerPerformance, fetch rate)' });
      javaRss.push(...results.rss);
    });
  }

  // 4: transactional batches.
  for (const shape of TX_SHAPES) {
    const name = `transactions of ${shape.perTransaction} record${shape.perTransaction > 1 ? 's' : ''} (100 B)`;
    const records = shape.transactions * shape.perTransaction;
    let baseline!: Summary;
    add(`${name}: ${RAW}`, async () => {
      const txProducer = await rawProducer(raw, `${prefix}-raw-tx-${shape.perTransaction}`);
      baseline = throughput(records, await repeat(REPS, WARMUPS, () => transactionsRaw(txProducer, topics.tx, shape.transactions, shape.perTransaction, buffers[100]![0]!)));
      await txProducer.disconnect();
      rows.push({ section: 'transactions', name, impl: RAW, unit: 'records/s', value: baseline, recordSize: 100, higherIsBetter: true });
    });
    add(`${name}: ${RD_RAW}`, async () => {
      const txProducer = await rdProducer(rd!, brokers, `${prefix}-rd-tx-${shape.perTransaction}`);
      const value = throughput(records, await repeat(REPS, WARMUPS, () => transactionsRaw(txProducer, topics.tx, shape.transactions, shape.perTransaction, buffers[100]![0]!)));
      await txProducer.disconnect();
      rows.push({ section: 'transactions', name, impl: RD_RAW, unit: 'records/s', value, baseline, recordSize: 100, higherIsBetter: true });
    });
    for (const impl of [EMPTY, UNSAMPLED, RD_EMPTY, RD_FULL]) {
      add(`${name}: ${impl}`, async () => {
        const value = throughput(records, await repeat(REPS, WARMUPS, () => transactionsLight(services[impl]!, topics.tx, shape.transactions, shape.perTransaction, objects[100]![0]!, headers)));
        rows.push({ section: 'transactions', name, impl, unit: 'records/s', value, baseline, recordSize: 100, higherIsBetter: true });
      });
    }
  }

  // A business handler that awaits 5 ms of I/O, one partition, 100 keys: records one after another against
  // records of one key in order with up to 64 keys at once.
  {
    const name = `handler awaiting ${IO_MS} ms of I/O, 1 partition, 100 keys`;
    add(`fill ${topics.io}`, async () => {
      await services[EMPTY]!.producer.send(topics.io, Array.from({ length: IO_RECORDS }, (_, i) => ({ key: `k${i % 100}`, value: objects[100]![i % 64] })));
    });
    const io = (): Promise<void> => sleep(IO_MS);
    let baseline!: Summary;
    add(`${name}: partition ordering`, async () => {
      baseline = throughput(IO_RECORDS, await repeat(REPS, WARMUPS, () => consumeLight(configs.empty, topics.io, IO_RECORDS, io)));
      rows.push({ section: 'concurrency', name, impl: 'light, ordering: partition', unit: 'records/s', value: baseline, higherIsBetter: true });
    });
    add(`${name}: key ordering`, async () => {
      const value = throughput(IO_RECORDS, await repeat(REPS, WARMUPS, () => consumeLight(configs.keyOrdered, topics.io, IO_RECORDS, io)));
      rows.push({ section: 'concurrency', name, impl: 'light, ordering: key, maxConcurrency 64', unit: 'records/s', value, baseline, higherIsBetter: true, note: '(ratio to ordering: partition)' });
    });
  }

  // Streams: count by key, exactly_once and at_least_once against a raw kafkajs transactional loop; restore rate.
  {
    const name = `streams: count by key, 100 B, ${KEYS_STREAMS} keys`;
    const streamsCount = BATCHED[100]!;
    add(`fill ${topics.streamsIn}`, async () => {
      await produceRaw(producer, { topic: topics.streamsIn, count: streamsCount, size: 100, batchSize: BATCH_SIZE }, buffers[100]!);
    });
    let baseline!: Summary;
    add(`${name}: ${RAW}`, async () => {
      baseline = throughput(streamsCount, await repeat(REPS, WARMUPS, () => streamsRaw(raw, topics.streamsIn, topics.streamsOut, topics.streamsChangelog, streamsCount)));
      rows.push({ section: 'streams', name, impl: 'raw kafkajs (transaction per fetched batch)', unit: 'records/s', value: baseline, recordSize: 100, higherIsBetter: true });
    });
    let atLeastOnce!: Summary;
    add(`${name}: light streams, at_least_once`, async () => {
      atLeastOnce = throughput(streamsCount, await repeat(REPS, WARMUPS, async () => (await streamsLight(brokers, 'at_least_once', topics.streamsIn, topics.streamsOut, streamsCount)).seconds));
      rows.push({ section: 'streams', name, impl: 'light streams, at_least_once', unit: 'records/s', value: atLeastOnce, baseline, recordSize: 100, higherIsBetter: true });
    });
    add(`${name}: light streams, exactly_once`, async () => {
      const value = throughput(
        streamsCount,
        await repeat(REPS, WARMUPS, async () => (await streamsLight(brokers, 'exactly_once', topics.streamsIn, topics.streamsOut, streamsCount)).seconds),
      );
      rows.push({ section: 'streams', name, impl: 'light streams, exactly_once', unit: 'records/s', value, baseline, recordSize: 100, higherIsBetter: true, note: `(${(value.median / atLeastOnce.median).toFixed(2)}x at_least_once)` });
    });
    // A windowed aggregation: exactly_once as a ratio to at_least_once and to the raw loop (count by key).
    const windowedName = `streams: ${WINDOWED_COUNT.name}, 100 B, ${KEYS_STREAMS} keys`;
    let windowedAtLeastOnce!: Summary;
    add(`${windowedName}: light streams, at_least_once`, async () => {
      windowedAtLeastOnce = throughput(streamsCount, await repeat(REPS, WARMUPS, async () => (await streamsLight(brokers, 'at_least_once', topics.streamsIn, topics.streamsOut, streamsCount, WINDOWED_COUNT)).seconds));
      rows.push({ section: 'streams', name: windowedName, impl: 'light streams, at_least_once', unit: 'records/s', value: windowedAtLeastOnce, baseline, recordSize: 100, higherIsBetter: true, note: '(ratio to the raw count-by-key loop)' });
    });
    add(`${windowedName}: light streams, exactly_once`, async () => {
      const value = throughput(streamsCount, await repeat(REPS, WARMUPS, async () => (await streamsLight(brokers, 'exactly_once', topics.streamsIn, topics.streamsOut, streamsCount, WINDOWED_COUNT)).seconds));
      rows.push({ section: 'streams', name: windowedName, impl: 'light streams, exactly_once', unit: 'records/s', value, baseline, recordSize: 100, higherIsBetter: true, note: `(${(value.median / windowedAtLeastOnce.median).toFixed(2)}x at_least_once; ratio to the raw count-by-key loop)` });
    });
    // The restore row: a store of RESTORE_KEYS distinct keys (a changelog of as many records), its local state deleted.
    add(`fill ${topics.streamsRestore}`, async () => {
      await fillDistinctKeys(producer, topics.streamsRestore, RESTORE_KEYS, buffers[100]![0]!);
    });
    // A stream-stream join on the distinct keys of the restore topic: exactly_once against at_least_once and the raw loop.
    const joinName = `streams: ${STREAM_JOIN.name}, 100 B, ${RESTORE_KEYS} records`;
    let joinAtLeastOnce!: Summary;
    add(`${joinName}: light streams, at_least_once`, async () => {
      joinAtLeastOnce = throughput(RESTORE_KEYS, await repeat(REPS, WARMUPS, async () => (await streamsLight(brokers, 'at_least_once', topics.streamsRestore, topics.streamsOut, RESTORE_KEYS, STREAM_JOIN)).seconds));
      rows.push({ section: 'streams', name: joinName, impl: 'light streams, at_least_once', unit: 'records/s', value: joinAtLeastOnce, baseline, recordSize: 100, higherIsBetter: true, note: '(ratio to the raw count-by-key loop)' });
    });
    add(`${joinName}: light streams, exactly_once`, async () => {
      const value = throughput(RESTORE_KEYS, await repeat(REPS, WARMUPS, async () => (await streamsLight(brokers, 'exactly_once', topics.streamsRestore, topics.streamsOut, RESTORE_KEYS, STREAM_JOIN)).seconds));
      rows.push({ section: 'streams', name: joinName, impl: 'light streams, exactly_once', unit: 'records/s', value, baseline, recordSize: 100, higherIsBetter: true, note: `(${(value.median / joinAtLeastOnce.median).toFixed(2)}x at_least_once; ratio to the raw count-by-key loop)` });
    });
    add('streams: restore from a changelog', async () => {
      const run = await streamsLight(brokers, 'exactly_once', topics.streamsRestore, topics.streamsOut, RESTORE_KEYS);
      const samples: number[] = [];
      let records = 0;
      for (let i = 0; i < REPS; i++) {
        const restored = await streamsRestore(brokers, run, topics.streamsRestore, RESTORE_KEYS);
        records = restored.records;
        samples.push(restored.records / restored.seconds);
      }
      rows.push({ section: 'streams', name: `restore a store from its changelog (${records} records; local state deleted; from start() to every key readable, group joins included)`, impl: 'light streams', unit: 'records/s', value: summarize(samples), higherIsBetter: true });
    });
  }

  // 6: in-process chain cost, no broker.
  for (const size of [0, 1, 6, 12]) {
    add(`in-process chain of ${size}`, async () => {
      const value = summarize(await collect(REPS, () => chainOverheadMicros(size, 300_000)));
      rows.push({ section: 'in-process', name: `chain of ${size} pass-through handlers`, impl: 'in-process', unit: 'µs/record', value, higherIsBetter: false });
    });
  }
  add('in-process consumer work per record', async () => {
    const value = summarize(await collect(REPS, () => consumerRecordMicros(300_000)));
    rows.push({ section: 'in-process', name: 'consumer work per record around an empty chain (decode, exchange, context)', impl: 'in-process', unit: 'µs/record', value, higherIsBetter: false });
  });
  add('in-process full consume chain', async () => {
    const value = summarize(await collect(REPS, () => fullChainMicros(services[UNSAMPLED]!, topics.produce, configs.token, objects[100]![0]!, 20_000)));
    rows.push({ section: 'in-process', name: 'full consume chain, token already verified (tracing unsampled)', impl: 'in-process', unit: 'µs/record', value, higherIsBetter: false });
  });

  // 7: produce-to-consume latency at a fixed rate.
  const latencies: { impl: string; result: LatencyResult }[] = [];
  const pad = 'x'.repeat(40);
  // Each implementation has its own topic: a light consumer starts at the earliest offset of a new group.
  add(`latency: ${RAW}`, async () => void latencies.push({ impl: RAW, result: await latency({ kind: 'raw', kafka: raw, producer }, topics.latency.raw, LATENCY_RATE, LATENCY_SECONDS, pad) }));
  const latencyRuns = [[EMPTY, configs.empty, topics.latency.empty], [SAMPLED, configs.fullSampled, topics.latency.sampled], [RD_EMPTY, configs.librdkafka.empty, topics.latency.rdEmpty]] as const;
  for (const [impl, dir, topic] of latencyRuns) {
    (impl === RD_EMPTY ? addLate : add)(`latency: ${impl}`, async () => void latencies.push({ impl, result: await latency({ kind: 'light', configDir: dir, headers }, topic, LATENCY_RATE, LATENCY_SECONDS, pad) }));
  }

  // 8: commands across services: request/reply round trips and transfers (a two-step saga) per second.
  const roundTrips: { impl: string; result: RoundTrips }[] = [];
  add(`command round trip: ${RAW} ping-pong`, async () => void roundTrips.push({ impl: `${RAW}: produce -> consume -> produce -> consume`, result: await pingPongRaw(raw, producer, topics.ping.requests, topics.ping.replies, ROUND_TRIPS) }));
  for (const commitMs of [100, 1]) {
    add(`command round trip: light, commit.interval.ms ${commitMs}`, async () => {
      roundTrips.push({ impl: `light: requests.request() -> processCommands (exactly_once, commit.interval.ms ${commitMs}) -> reply`, result: await roundTripsLight(raw, brokers, commitMs, ROUND_TRIPS) });
    });
  }
  for (const commitMs of [100, 1]) {
    add(`transfers per second: commit.interval.ms ${commitMs}`, async () => {
      const runs: { seconds: number; completed: number; compensated: number }[] = [];
      await repeat(REPS, WARMUPS, async () => {
        const run = await transfersLight(raw, brokers, commitMs, TRANSFER_ACCOUNTS, TRANSFERS);
        runs.push(run);
        return run.seconds;
      });
      const measured = runs.slice(WARMUPS);
      const value = summarize(measured.map(({ seconds }) => TRANSFERS / seconds));
      rows.push({ section: 'commands', name: `transfer saga (debit, credit), ${TRANSFERS} started at once between ${TRANSFER_ACCOUNTS} accounts, each awaited to its end`, impl: `light streams, exactly_once, commit.interval.ms ${commitMs}`, unit: 'transfers/s', value, higherIsBetter: true, note: `(${measured.map(({ completed }) => completed).join('/')} completed)` });
    });
  }

  tasks.push(...lateTasks);
  // BENCH_ONLY=<regex>: only the matching rows (and fills), printed and not written anywhere: for trying rows out.
  const only = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : undefined;
  const chosen = chooseTasks(tasks, { ...(only ? { only } : {}), quick: QUICK, librdkafka });
  const progress = new Progress(chosen.length);
  for (const task of chosen) {
    progress.next(task.label);
    await task.run();
  }
  progress.done();

  for (const service of Object.values(services)) await service.stop();
  await producer.disconnect();
  await rdPlain?.disconnect();
  sink.close();

  const rss = {
    benchProcessMb: process.resourceUsage().maxRSS / 1024,
    brokerMb: brokerPeakRssMb(),
    javaToolsMb: javaRss.length ? Math.max(...javaRss) : undefined,
  };
  const latencyTable = ['| implementation | p50 ms | p99 ms | records |', '| --- | ---: | ---: | ---: |', ...latencies.map(({ impl, result }) => `| ${impl} | ${result.p50Ms.toFixed(2)} | ${result.p99Ms.toFixed(2)} | ${result.records} |`)].join('\n');
  const checks = targetChecks(rows);
  const table = [
    `Run ${new Date().toISOString()} on ${cpus().length} cores (${cpus()[0]?.model ?? 'cpu'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${brokerDescription()}; ${REPS} repetitions after ${WARMUPS} warm-up, median with min - max.`,
    '',
    markdownTable(rows),
    '',
    `Produce-to-consume latency at ${LATENCY_RATE} records/s for ${LATENCY_SECONDS} s:`,
    '',
    latencyTable,
    '',
    `Command request/reply round trips (${ROUND_TRIPS} in sequence after 20 warm-up, one broker, empty chains):`,
    '',
    roundTripTable(roundTrips),
    '',
    `Peak RSS: bench process (all node clients) ${rss.benchProcessMb.toFixed(0)} MB; broker ${rss.brokerMb === undefined ? 'n/a (not started by this run)' : `${rss.brokerMb.toFixed(0)} MB`}; Java perf tools ${rss.javaToolsMb === undefined ? 'n/a' : `${rss.javaToolsMb.toFixed(0)} MB`} (max over runs).`,
    '',
    'Targets (issue 11; the default transport, kafkajs, must meet them):',
    '',
    ...checks.map((check) => `- ${check}`),
  ].join('\n');
  if (only) {
    console.log([markdownTable(rows), '', ...(roundTrips.length ? [roundTripTable(roundTrips), ''] : []), ...checks.map((check) => `- ${check}`)].join('\n'));
    if (kafka.owned) await kafka.stop();
    return;
  }
  if (QUICK) {
    // Only the headline rows ran: no latency table.
    const quickTable = [`Quick run ${new Date().toISOString()} (npm run bench -- --quick): headline rows, 1 repetition after ${WARMUPS} warm-up.`, '', markdownTable(rows), '', 'Targets (issue 11):', '', ...checks.map((check) => `- ${check}`)].join('\n');
    writeResults(RESULTS_DIR, { date: new Date().toISOString(), quick: true, rows: rows.map((row) => ({ ...row, ratio: ratioOf(row) })) }, quickTable, 'quick');
    console.log(quickTable);
    if (kafka.owned) await kafka.stop();
    return;
  }
  writeResults(RESULTS_DIR, { date: new Date().toISOString(), machine: { cores: cpus().length, memoryGiB: totalmem() / 2 ** 30, node: process.version }, repetitions: REPS, rows: rows.map((row) => ({ ...row, ratio: ratioOf(row) })), latency: latencies, roundTrips, rss, checks }, table);
  throughputChart(rows, join(RESULTS_DIR, 'throughput.png'), 'light-kafka throughput by configuration');
  updateReadme(table);
  console.log(table);
  if (kafka.owned) await kafka.stop();
}

/** The round-trip table: p50 and p99 per implementation, with the ratio of each p50 to the raw ping-pong's. */
function roundTripTable(roundTrips: { impl: string; result: RoundTrips }[]): string {
  const raw = roundTrips.find(({ impl }) => impl.startsWith(RAW));
  return [
    '| implementation | p50 ms | p99 ms | round trips | p50 ratio to raw |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...roundTrips.map(({ impl, result }) => `| ${impl} | ${result.p50Ms.toFixed(2)} | ${result.p99Ms.toFixed(2)} | ${result.count} | ${raw ? (result.p50Ms / raw.result.p50Ms).toFixed(2) : '-'} |`),
  ].join('\n');
}

/** records/s from a summary of seconds (the fastest run has the highest rate). */
function throughput(records: number, seconds: Summary): Summary {
  return summarize(seconds.samples.map((s) => records / s));
}

async function collect(times: number, measure: () => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < times; i++) out.push(await measure());
  return out;
}

async function repeatJava(measure: () => Promise<{ recordsPerSec: number; peakRssMb: number | undefined }>): Promise<{ value: Summary; rss: number[] }> {
  const rates: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const result = await measure();
    rates.push(result.recordsPerSec);
    if (result.peakRssMb !== undefined) rss.push(result.peakRssMb);
  }
  return { value: summarize(rates), rss };
}

function brokerPeakRssMb(): number | undefined {
  const pidFile = join(process.env.LIGHT_KAFKA_LOCAL_DIR ?? join(PACKAGE_ROOT, '.kafka-local'), 'broker.pid');
  if (!existsSync(pidFile)) return undefined;
  const status = `/proc/${readFileSync(pidFile, 'utf8').trim()}/status`;
  if (!existsSync(status)) return undefined;
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(status, 'utf8'));
  return hwm ? Number(hwm[1]) / 1024 : undefined;
}

function updateReadme(table: string): void {
  const file = join(PACKAGE_ROOT, 'bench', 'README.md');
  if (!existsSync(file)) return;
  const text = readFileSync(file, 'utf8');
  const start = '<!-- latest:start -->';
  const end = '<!-- latest:end -->';
  if (!text.includes(start) || !text.includes(end)) return;
  writeFileSync(file, text.slice(0, text.indexOf(start) + start.length) + '\n' + table + '\n' + text.slice(text.indexOf(end)));
}

if (isMain(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write('\n');
    console.error(error);
    process.exit(1);
  });
}

/** The broker the run measured: the cluster KAFKA_BROKERS names, or the launcher's single node and its version. */
function brokerDescription(): string {
  if (process.env.KAFKA_BROKERS) return `the Kafka cluster at KAFKA_BROKERS (${process.env.KAFKA_BROKERS})`;
  return `Apache Kafka ${process.env.LIGHT_KAFKA_VERSION || DEFAULT_KAFKA_VERSION} single-node KRaft on 127.0.0.1`;
}
