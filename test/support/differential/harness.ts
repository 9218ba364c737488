/**
 * The differential harness: one topology written twice, on Kafka Streams (a case of
 * test/fixtures/kafka-streams/Topologies.java) and on LightStreams (a real LightService under exactly_once), fed the
 * same input topics, each writing its own output topics; then what each wrote (read read_committed) is compared
 * (see compare.ts for how per output).
 *
 * The input comes in phases. The first is produced before both start; before each next phase the harness waits
 * until both committed the end offsets of their (non-global) input topics, and, after a phase that wrote to a global
 * table's topic, until both global stores hold the sentinel record written at that phase's end. So a case decides
 * what each side has seen when a record comes (a table loaded before the stream that joins it, a global table
 * updated between two stream phases) without depending on how either interleaves records of different topics
 * within a phase. Both run at the same time; Kafka Streams is stopped by "end" (a last sync, a clean close).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { LightService, type StreamsBuilder } from '../../../index.js';
import { streamsServiceConfig } from '../config-dir.js';
import { brokers, createTopics, readToEnd, uniqueName } from '../kafka.js';
import { compareOutput, describeComparison, type Comparison, type OutputMode, type OutputRecord } from './compare.js';
export type { OutputRecord } from './compare.js';
import { InputBuilder, seeded, type InputRecord } from './input.js';
import { KafkaStreamsCase } from './kafka-streams-java.js';

/** What a case's LightStreams topology gets: the builder, its topics by role, its output topics by label. */
export interface LightContext {
  builder: StreamsBuilder;
  topic(role: string): string;
  out(label: string): string;
  params: Record<string, number>;
}

export interface DifferentialCase {
  /** The case's name (and, unless `javaCase` says otherwise, its case in Topologies.java: --case). */
  name: string;
  /** The case of Topologies.java when it is not `name` (a variant of a case's input). */
  javaCase?: string;
  /** Numbers both topologies take (window size, grace, ...), in ms. */
  params: Record<string, number>;
  /** The input roles; `global`: read by a global table (a sentinel syncs it, see above) under store `store`. */
  inputs: Record<string, { global?: { store: string } }>;
  /** Partitions of each input topic (default 2). */
  partitions?: number;
  /** The outputs both topologies write, and how each is compared. */
  outputs: Record<string, OutputMode>;
  /** The input, phase by phase (see above), made with `input`'s seeded generator. */
  phases(input: InputBuilder): InputRecord[][];
  /**
   * The same topology on LightStreams: writes each output label to out(label) in the canonical form. None: the case
   * runs on Kafka Streams only (its LightStreams side is not wired yet), and the report lists what Kafka Streams wrote.
   */
  light?(context: LightContext): void;
  /** Whether LightStreams' global store `store` holds `key` (default: service.streams.store(store).get(key)). */
  lightGlobalHas?(service: LightService, store: string, key: string): boolean;
  /** A difference found and reported, not fixed yet: see KnownDifference. */
  knownDifference?: KnownDifference;
}

/**
 * A semantic difference of LightStreams found by a case and written down (with its evidence) but not fixed yet: the
 * output records it explains are set aside on the side that writes them, everything else must still be the same,
 * and the difference must still be there (at least one record set aside for each predicate): once LightStreams is
 * fixed, the case fails and says to remove it.
 */
export interface KnownDifference {
  /** What differs, which side is right and why (shown in the report). */
  description: string;
  /** Records of output `label` that only Kafka Streams writes, because of the difference. */
  kafkaStreamsOnly?: (label: string, record: OutputRecord) => boolean;
  /** Records of output `label` that only LightStreams writes, because of the difference. */
  lightStreamsOnly?: (label: string, record: OutputRecord) => boolean;
}

export interface DifferentialOptions {
  seed?: number;
  /** Each side's bound for a phase and for the whole run. */
  timeoutMs?: number;
  /** Replaces the case's LightStreams topology (to show that the harness catches a wrong one). */
  light?: (context: LightContext) => void;
}

export interface DifferentialReport {
  name: string;
  seed: number;
  /** The base time input times are relative to (ms since the epoch; a multiple of an hour, so windows align). */
  base: number;
  /** Input records per role. */
  inputs: Record<string, number>;
  phases: number;
  comparisons: Comparison[];
  equal: boolean;
  /** Wall times in ms: both started (Kafka Streams to RUNNING, the LightService started), the whole run. */
  timings: { kafkaStreamsStartMs: number; lightStartMs: number; processMs: number; readMs: number; totalMs: number };
  /** Everything above as text: timings, then each output's comparison (with its differing keys). */
  text: string;
  /** What Kafka Streams wrote, per output label. */
  kafkaStreamsOutputs: Record<string, OutputRecord[]>;
}

const HOUR = 3_600_000;
const SENTINEL = '__sync';

function kafka(): Kafka {
  return new Kafka({ brokers: brokers(), clientId: 'differential-harness', logLevel: logLevel.NOTHING });
}

async function produce(records: InputRecord[], topicOf: (role: string) => string, base: number, partitions: number): Promise<void> {
  const producer = kafka().producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const byTopic = new Map<string, { key: string | null; value: string | null; timestamp: string; partition?: number }[]>();
    const nullKeys = new Map<string, number>();
    for (const record of records) {
      const topic = topicOf(record.topic);
      const list = byTopic.get(topic) ?? [];
      // Null keys spread over the partitions in turn (the default partitioner would pick them at random).
      const partition = record.key === null ? (nullKeys.get(topic) ?? 0) % partitions : undefined;
      if (record.key === null) nullKeys.set(topic, (nullKeys.get(topic) ?? 0) + 1);
      list.push({ key: record.key, value: record.value === null ? null : JSON.stringify(record.value), timestamp: String(base + record.time), ...(partition !== undefined ? { partition } : {}) });
      byTopic.set(topic, list);
    }
    // One send per topic: records keep their order within each partition.
    for (const [topic, messages] of byTopic) await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}

/** End offsets (high watermarks) of the topics' partitions. */
async function endOffsets(admin: Admin, topics: string[]): Promise<Map<string, number>> {
  const ends = new Map<string, number>();
  for (const topic of topics) for (const { partition, high } of await admin.fetchTopicOffsets(topic)) ends.set(`${topic}-${partition}`, Number(high));
  return ends;
}

/** Waits until group `groupId` committed the current end offsets of `topics` (a partition with no record counts as done). */
async function syncGroup(admin: Admin, groupId: string, topics: string[], timeoutMs: number, what: string): Promise<void> {
  const ends = await endOffsets(admin, topics);
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    const committed = new Map<string, number>();
    try {
      for (const { topic, partitions } of await admin.fetchOffsets({ groupId, topics })) for (const { partition, offset } of partitions) committed.set(`${topic}-${partition}`, Number(offset));
      if ([...ends].every(([partition, end]) => end === 0 || (committed.get(partition) ?? -1) >= end)) return;
    } catch (error) {
      // A coordinator loading or moving: asked again until the deadline.
      lastError = ` (last error: ${(error as Error).message})`;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} did not commit the end offsets within ${timeoutMs} ms: committed ${JSON.stringify(Object.fromEntries(committed))}, ends ${JSON.stringify(Object.fromEntries(ends))}${lastError}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function lightConfig(applicationId: string, stateDir: string): string {
  return streamsServiceConfig('differential', applicationId, stateDir, { consumerMaxRetries: 2 });
}

function toOutputRecords(records: { key: string | null; value: string | null }[]): OutputRecord[] {
  return records.map(({ key, value }) => ({ key, value }));
}

/** Runs a case on both sides and compares their outputs. Throws only when a side fails to run; see `equal`. */
export async function runDifferential(testCase: DifferentialCase, options: DifferentialOptions = {}): Promise<DifferentialReport> {
  const started = Date.now();
  const seed = options.seed ?? 20261207;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const partitions = testCase.partitions ?? 2;
  const base = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
  const run = uniqueName(`diff-${testCase.name}`);
  const topics = Object.fromEntries(Object.keys(testCase.inputs).map((role) => [role, `${run}-${role}`]));
  const ksOutputs = Object.fromEntries(Object.keys(testCase.outputs).map((label) => [label, `${run}-ks-${label}`]));
  const lsOutputs = Object.fromEntries(Object.keys(testCase.outputs).map((label) => [label, `${run}-ls-${label}`]));
  const topicOf = (role: string): string => {
    const topic = topics[role];
    if (!topic) throw new Error(`case ${testCase.name} has no input ${role}`);
    return topic;
  };
  const globals = Object.entries(testCase.inputs).filter(([, input]) => input.global !== undefined);
  const streamTopics = Object.entries(testCase.inputs).filter(([, input]) => input.global === undefined).map(([role]) => topicOf(role));

  const phases = testCase.phases(new InputBuilder(seeded(seed)));
  const inputs: Record<string, number> = {};
  for (const record of phases.flat()) inputs[record.topic] = (inputs[record.topic] ?? 0) + 1;
  // A sentinel at the end of each phase that writes to a global table's topic: the sync waits until both have it.
  const sentinels = phases.map((records, index) =>
    globals.filter(([role]) => records.some((record) => record.topic === role)).map(([role, input]) => ({ role, store: input.global!.store, key: `${SENTINEL}-${index}` })),
  );
  const phaseRecords = phases.map((records, index) => [
    ...records,
    ...sentinels[index]!.map(({ role, key }) => ({ topic: role, key, value: { id: key }, time: Math.max(0, ...records.map((record) => record.time)) })),
  ]);

  await createTopics(Object.values(topics), partitions);
  await createTopics([...Object.values(ksOutputs), ...Object.values(lsOutputs)], 1);
  await produce(phaseRecords[0]!, topicOf, base, partitions);

  const workDir = mkdtempSync(join(tmpdir(), `light-kafka-${testCase.name}-`));
  const admin = kafka().admin();
  await admin.connect();
  let launched: Promise<KafkaStreamsCase> | undefined;
  let service: LightService | undefined;
  let lightConfigDir: string | undefined;
  let kept = false;
  try {
    const ksStarted = Date.now();
    const lsApplicationId = `${run}-ls`;
    const lightTopology = options.light ?? testCase.light;
    launched = KafkaStreamsCase.launch({
      caseName: testCase.javaCase ?? testCase.name,
      brokers: brokers().join(','),
      applicationId: `${run}-ks`,
      topics,
      outputs: ksOutputs,
      params: testCase.params,
      workDir,
      timeoutMs,
    });
    launched.catch(() => undefined);
    const javaStart = launched.then(async (app) => {
      await app.ready();
      return { app, ms: Date.now() - ksStarted };
    });
    const lightStart = (async () => {
      if (!lightTopology) return undefined;
      const lsStarted = Date.now();
      lightConfigDir = lightConfig(lsApplicationId, join(workDir, 'light-state'));
      const created = await LightService.create({ configDir: lightConfigDir });
      service = created;
      lightTopology({ builder: created.streams.builder(), topic: topicOf, out: (label) => lsOutputs[label] ?? missingOutput(testCase, label), params: testCase.params });
      await created.start();
      return { service: created, ms: Date.now() - lsStarted };
    })();
    const [ks, ls] = await Promise.all([javaStart, lightStart]);
    const processStarted = Date.now();

    const syncBoth = async (phase: number): Promise<void> => {
      await Promise.all([ks.app.sync(), ls ? syncGroup(admin, lsApplicationId, streamTopics, timeoutMs, 'LightStreams') : undefined]);
      for (const { store, key } of sentinels[phase]!) {
        const has = testCase.lightGlobalHas ?? ((light: LightService, name: string, sentinel: string) => light.streams.store(name).get(sentinel) !== undefined);
        await Promise.all([ks.app.syncGlobal(store, key), ls ? waitUntil(() => has(ls.service, store, key), timeoutMs, `LightStreams' global store ${store} to hold ${key}`) : undefined]);
      }
    };
    for (let phase = 1; phase < phaseRecords.length; phase++) {
      await syncBoth(phase - 1);
      await produce(phaseRecords[phase]!, topicOf, base, partitions);
    }
    await syncBoth(phaseRecords.length - 1);
    await Promise.all([ks.app.end(), ls?.service.stop()]);
    service = undefined;
    const processMs = Date.now() - processStarted;

    const readStarted = Date.now();
    const labels = Object.keys(testCase.outputs);
    const read = await Promise.all(labels.flatMap((label) => [readToEnd(ksOutputs[label]!), ls ? readToEnd(lsOutputs[label]!) : []]));
    const readMs = Date.now() - readStarted;
    const hours = (key: string): string => key.replace(/@(\d{13})(?:-(\d{13}))?$/, (_all, start: string, end?: string) => `@base+${Number(start) - base}${end ? `-base+${Number(end) - base}` : ''}`);
    const kafkaStreamsOutputs = Object.fromEntries(labels.map((label, index) => [label, toOutputRecords(read[2 * index]!)]));
    const timings = { kafkaStreamsStartMs: ks.ms, lightStartMs: ls?.ms ?? 0, processMs, readMs, totalMs: 0 };
    const header = (verdict: string): string => `case ${testCase.name} (seed ${seed}, base ${base} = ${new Date(base).toISOString()}; window keys are shown as base+<ms>): ${verdict}`;
    const timingLine = (): string =>
      `  input ${JSON.stringify(inputs)} in ${phases.length} phase(s); Kafka Streams RUNNING after ${ks.ms} ms${ls ? `, LightStreams started after ${ls.ms} ms` : ''}, input processed in ${processMs} ms, outputs read in ${readMs} ms, ${(timings.totalMs = Date.now() - started)} ms in all`;

    if (!ls) {
      // Kafka Streams only (a case whose LightStreams side is not wired yet): what it wrote, per output.
      const text = [
        header('Kafka Streams only'),
        timingLine(),
        ...labels.flatMap((label) => [`  output "${label}" (${testCase.outputs[label]}): ${kafkaStreamsOutputs[label]!.length} records`, ...kafkaStreamsOutputs[label]!.map((record) => `    ${record.key === null ? '<null key>' : hours(record.key)} ${record.value ?? '(tombstone)'}`)]),
      ].join('\n');
      return { name: testCase.name, seed, base, inputs, phases: phases.length, comparisons: [], equal: false, timings, text, kafkaStreamsOutputs };
    }

    const known = testCase.knownDifference;
    const setAside = { kafkaStreams: 0, lightStreams: 0 };
    const aside = (side: 'kafkaStreams' | 'lightStreams', matches: ((label: string, record: OutputRecord) => boolean) | undefined, label: string) => (record: OutputRecord): boolean => {
      if (!matches?.(label, record)) return true;
      setAside[side] += 1;
      return false;
    };
    const comparisons = labels.map((label, index) => {
      const ksRecords = kafkaStreamsOutputs[label]!.filter(aside('kafkaStreams', known?.kafkaStreamsOnly, label));
      const lsRecords = toOutputRecords(read[2 * index + 1]!).filter(aside('lightStreams', known?.lightStreamsOnly, label));
      return compareOutput(label, testCase.outputs[label]!, ksRecords, lsRecords, { showKey: hours });
    });
    const knownStillThere = !known || ((!known.kafkaStreamsOnly || setAside.kafkaStreams > 0) && (!known.lightStreamsOnly || setAside.lightStreams > 0));
    const equal = comparisons.every((comparison) => comparison.equal) && knownStillThere;
    const text = [
      header(equal ? 'Kafka Streams and LightStreams agree' : 'Kafka Streams and LightStreams DIFFER'),
      timingLine(),
      ...(known
        ? [
            `  known difference (set aside: ${setAside.kafkaStreams} Kafka Streams records, ${setAside.lightStreams} LightStreams records): ${known.description}`,
            ...(knownStillThere ? [] : ['  THE KNOWN DIFFERENCE WAS NOT SEEN: if LightStreams was fixed, remove knownDifference from the case']),
          ]
        : []),
      ...comparisons.map((comparison) => `  ${describeComparison(comparison).split('\n').join('\n  ')}`),
      ...(equal ? [] : [`  Kafka Streams' log: ${ks.app.log} (kept)`]),
    ].join('\n');
    kept = !equal;
    return { name: testCase.name, seed, base, inputs, phases: phases.length, comparisons, equal, timings, text, kafkaStreamsOutputs };
  } catch (error) {
    kept = true;
    (error as Error).message += `\n(the run's folder, with Kafka Streams' log, is kept: ${workDir})`;
    throw error;
  } finally {
    // A program still running (a failure on either side) is killed; one that ended is left as it is.
    await Promise.allSettled([launched?.then((app) => app.kill()), (service as LightService | undefined)?.stop()]);
    await admin.disconnect();
    if (lightConfigDir) rmSync(lightConfigDir, { recursive: true, force: true });
    if (!kept) rmSync(workDir, { recursive: true, force: true });
  }
}

function missingOutput(testCase: DifferentialCase, label: string): never {
  throw new Error(`case ${testCase.name} has no output ${label} (outputs: ${Object.keys(testCase.outputs).join(', ')})`);
}
