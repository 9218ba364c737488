import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka, Producer } from 'kafkajs';
import { command, defineSaga, LightService, type CommandRequests } from '../../index.js';
import { accountCommandProcessor, type AccountTopics } from '../../samples/accounts/domain.js';
import { transferSaga } from '../../samples/transfers/transfer-saga.js';
import { percentile } from './stats.js';
import { streamsConfigDir } from './streams-workloads.js';

/**
 * The command rows: a command request/reply round trip through LightStreams' command processor (exactly_once)
 * against a raw kafkajs produce -> consume -> produce -> consume ping-pong on the same broker, and transfers (a
 * two-step saga: debit, credit) completed per second. Empty chains (only the transport), kafkajs.
 */

export interface RoundTrips {
  p50Ms: number;
  p99Ms: number;
  count: number;
}

const nowMs = (): number => performance.timeOrigin + performance.now();

function summary(latencies: number[]): RoundTrips {
  const sorted = latencies.sort((a, b) => a - b);
  return { p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), count: sorted.length };
}

/**
 * The raw baseline: a server consumer answers each request record with a reply record; the client sends a request,
 * waits for its reply, then sends the next (`count` round trips after `warmup`).
 */
export async function pingPongRaw(kafka: Kafka, producer: Producer, requests: string, replies: string, count: number, warmup = 20): Promise<RoundTrips> {
  const server = kafka.consumer({ groupId: `bench-pp-server-${randomUUID()}`, maxWaitTimeInMs: 500 });
  const client = kafka.consumer({ groupId: `bench-pp-client-${randomUUID()}`, maxWaitTimeInMs: 500 });
  const waiting = new Map<string, () => void>();
  const joined = { server: false, client: false };
  server.on(server.events.GROUP_JOIN, () => (joined.server = true));
  client.on(client.events.GROUP_JOIN, () => (joined.client = true));
  for (const consumer of [server, client]) await consumer.connect();
  await server.subscribe({ topic: requests, fromBeginning: false });
  await client.subscribe({ topic: replies, fromBeginning: false });
  await server.run({ eachMessage: async ({ message }) => void (await producer.send({ topic: replies, acks: -1, messages: [{ key: message.key, value: message.value }] })) });
  await client.run({ eachMessage: async ({ message }) => waiting.get(message.value!.toString())?.() });
  await waitUntil(() => joined.server && joined.client, 60_000);
  await sleep(1000);
  const latencies: number[] = [];
  try {
    for (let n = 0; n < warmup + count; n++) {
      const id = `ping-${n}`;
      const started = nowMs();
      const answered = new Promise<void>((resolve) => waiting.set(id, resolve));
      await producer.send({ topic: requests, acks: -1, messages: [{ key: 'k', value: id }] });
      await answered;
      if (n >= warmup) latencies.push(nowMs() - started);
    }
  } finally {
    await Promise.all([server.disconnect(), client.disconnect()]);
  }
  return summary(latencies);
}

/** A service that only sends commands and awaits their replies (no streams of its own). */
async function requester(brokers: string, replyTopic: string): Promise<{ service: LightService; requests: CommandRequests }> {
  const dir = streamsConfigDir(brokers, `bench-requester-${randomUUID().slice(0, 8)}`, 'exactly_once', tmpdir());
  const service = await LightService.create({ configDir: dir });
  const requests = service.commandRequests({ replyTopic, timeoutMs: 120_000 });
  await service.start();
  return { service, requests };
}

async function bank(brokers: string, topics: AccountTopics, commitIntervalMs: number, stateDir: string): Promise<LightService> {
  const service = await LightService.create({ configDir: streamsConfigDir(brokers, `bench-bank-${randomUUID().slice(0, 8)}`, 'exactly_once', stateDir, commitIntervalMs) });
  accountCommandProcessor(service.streams.builder(), topics);
  await service.start();
  return service;
}

/** `count` sequential deposits to one account, each awaited with requests.request(): the round-trip times. */
export async function roundTripsLight(kafka: Kafka, brokers: string, commitIntervalMs: number, count: number, warmup = 20): Promise<RoundTrips> {
  const topics = await freshTopics(kafka);
  const stateDir = mkdtempSync(join(tmpdir(), 'light-kafka-bench-commands-'));
  const processor = await bank(brokers, topics, commitIntervalMs, stateDir);
  const { service, requests } = await requester(brokers, topics.replies);
  const id = `acc-${randomUUID().slice(0, 8)}`;
  const account = { type: 'Account', id };
  const latencies: number[] = [];
  try {
    await requests.request(topics.commands, command('OpenAccount', account, { owner: 'bench' }));
    for (let n = 0; n < warmup + count; n++) {
      const started = nowMs();
      const reply = await requests.request(topics.commands, command('DepositMoney', account, { amount: 1 }));
      if (reply.data.status !== 'accepted') throw new Error(`bench: a deposit was rejected: ${JSON.stringify(reply.data)}`);
      if (n >= warmup) latencies.push(nowMs() - started);
    }
  } finally {
    await service.stop();
    await processor.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
  return summary(latencies);
}

/**
 * `transfers` transfers started at once between `accounts` funded accounts, each awaited to its end (the saga's
 * reply to its start): seconds from the first start to the last end. The bank and the orchestrator each run in
 * this process with their own clients.
 */
export async function transfersLight(kafka: Kafka, brokers: string, commitIntervalMs: number, accounts: number, transfers: number): Promise<{ seconds: number; completed: number; compensated: number }> {
  const topics = await freshTopics(kafka);
  const stateDir = mkdtempSync(join(tmpdir(), 'light-kafka-bench-transfers-'));
  const processor = await bank(brokers, topics, commitIntervalMs, stateDir);
  const orchestrator = await LightService.create({ configDir: streamsConfigDir(brokers, `bench-transfers-${randomUUID().slice(0, 8)}`, 'exactly_once', stateDir, commitIntervalMs) });
  defineSaga(orchestrator.streams.builder(), transferSaga({ transfers: topics.transfers, replies: topics.transferReplies, debit: topics.commands }, { timeoutMs: 60_000 }));
  const requests = orchestrator.commandRequests({ replyTopic: topics.replies, timeoutMs: 300_000 });
  await orchestrator.start();
  const run = randomUUID().slice(0, 8);
  const ids = Array.from({ length: accounts }, (_, n) => `acc-${run}-${n}`);
  try {
    await Promise.all(ids.map(async (id) => {
      await requests.request(topics.commands, command('OpenAccount', { type: 'Account', id }, { owner: id }));
      await requests.request(topics.commands, command('DepositMoney', { type: 'Account', id }, { amount: 1_000_000 }));
    }));
    const started = nowMs();
    const outcomes = await Promise.all(
      Array.from({ length: transfers }, (_, n) =>
        requests.request(topics.transfers, command('StartTransfer', { type: 'Transfer', id: `t-${run}-${n}` }, { from: ids[n % accounts]!, to: ids[(n * 7 + 1) % accounts]!, amount: 1 + (n % 100) })),
      ),
    );
    const seconds = (nowMs() - started) / 1000;
    const completed = outcomes.filter((reply) => reply.data.status === 'accepted').length;
    return { seconds, completed, compensated: outcomes.length - completed };
  } finally {
    await orchestrator.stop();
    await processor.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/**
 * New topics for one run (3 partitions each): a new application reads its input topics from their beginning, so
 * a run on the topics of an earlier one would redo that run's commands and sagas first.
 */
async function freshTopics(kafka: Kafka): Promise<AccountTopics & { replies: string; transfers: string; transferReplies: string }> {
  const prefix = `bench-commands-${randomUUID().slice(0, 8)}`;
  const topics = { commands: `${prefix}-commands`, events: `${prefix}-events`, rejections: `${prefix}-rejections`, replies: `${prefix}-replies`, transfers: `${prefix}-transfers`, transferReplies: `${prefix}-transfer-replies` };
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: Object.values(topics).map((topic) => ({ topic, numPartitions: 3, replicationFactor: 1 })), waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
  return topics;
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`bench: timed out after ${timeoutMs} ms`);
    await sleep(5);
  }
}
