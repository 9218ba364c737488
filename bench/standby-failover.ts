/**
 * Fail-over time of a LightStreams task with a large store, with and without a standby replica
 * (num.standby.replicas 0 and 1), on kafkajs and librdkafka. Not part of `npm test` or `npm run bench`: run it on its
 * own against a broker (KAFKA_BROKERS, else the local one is started):
 *
 *   npm run build && node dist/bench/standby-failover.js [--keys 1000000] [--transports kafkajs,librdkafka] [--replicas 0,1]
 *
 * Per transport and replica count: a fresh application over a one-partition input holding `keys` distinct keys (one
 * record each, produced once for all runs). Instance A (a child process) counts them alone, so its task's store holds
 * `keys` keys (and its changelog as many records); instance B (another child process) joins; the bench waits until
 * the group is settled (with a standby: B's copy has read the changelog to its end). Then the owner of the task is
 * killed with SIGKILL (no commit, no leave) and a probe record is produced to the input at once. Measured from the
 * kill, on the survivor: when the task is assigned to it (the group noticed the death: session.timeout.ms 6000 and
 * the rebalance), when it is open (its store restored) and how many changelog records it restored, and when the
 * probe's count is readable in the output (read_committed). Writes bench/results/standby-failover.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, Partitioners, type Admin } from 'kafkajs';
import { PACKAGE_ROOT } from '../core/package-root.js';
import { ensureKafka } from '../scripts/kafka-local.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

interface Options {
  keys: number;
  transports: ('kafkajs' | 'librdkafka')[];
  replicas: number[];
}

function parseArgs(argv: string[]): Options {
  const value = (name: string): string | undefined => {
    const index = argv.indexOf(`--${name}`);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  return {
    keys: Number(value('keys') ?? 1_000_000),
    transports: (value('transports') ?? 'kafkajs,librdkafka').split(',') as Options['transports'],
    replicas: (value('replicas') ?? '0,1').split(',').map(Number),
  };
}

/** A status line of an instance: its tasks and standbys at `at`. */
interface Status {
  tasks: { id: string; open: boolean }[];
  standbys: { id: string; stores: { store: string; checkpoint?: string; lag?: number }[] }[];
}

/** A bench instance (test/fixtures/streams/standby-process.ts, shared with the standby tests) in a child process. */
class Instance {
  readonly statuses: { status: Status; at: number }[] = [];
  readonly logs: { msg: string; time: string; [field: string]: unknown }[] = [];
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly configDir: string,
    private readonly topics: { input: string; output: string },
  ) {}

  get status(): Status | undefined {
    return this.statuses[this.statuses.length - 1]?.status;
  }

  start(): Promise<void> {
    const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist', 'test', 'fixtures', 'streams', 'standby-process.js'), this.configDir, this.topics.input, this.topics.output], {
      env: { ...process.env, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} did not start within 300 s`)), 300_000);
      const onLine = (line: string): void => {
        if (line === 'started') {
          clearTimeout(timer);
          resolve();
          return;
        }
        if (!line.startsWith('{')) {
          if (line.trim()) process.stderr.write(`  [${this.name}] ${line}\n`);
          return;
        }
        const parsed = JSON.parse(line) as { status?: Status; at?: number; msg?: string; level?: string; time?: string };
        if (parsed.status) this.statuses.push({ status: parsed.status, at: parsed.at! });
        else if (parsed.msg) {
          this.logs.push(parsed as Instance['logs'][number]);
          if (parsed.level === 'error') process.stderr.write(`  [${this.name}] ${parsed.level}: ${parsed.msg}\n`);
        }
      };
      createInterface({ input: child.stdout! }).on('line', onLine);
      createInterface({ input: child.stderr! }).on('line', onLine);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${signal ?? code}) before it started`));
      });
    });
  }

  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    await this.exited;
    clearTimeout(timer);
  }

  /** The first moment after `since` at which `predicate` held for this instance's status. */
  firstStatusAfter(since: number, predicate: (status: Status) => boolean): number | undefined {
    return this.statuses.find(({ status, at }) => at >= since && predicate(status))?.at;
  }
}

/**
 * `name` is the consumer's client.id: librdkafka's range assignor orders members by member id, which starts with the
 * client.id, so instance A (the one that built the store) keeps the task when B joins, on both transports.
 */
function configDir(brokers: string, transport: string, applicationId: string, replicas: number, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'light-kafka-bench-standby-'));
  const stateDir = join(dir, 'state');
  const files: Record<string, string> = {
    'service.yml': `serviceId: bench-standby\ntransport: ${transport}\nstopTimeoutMs: 60000\n`,
    'kafka-producer.yml': `properties:\n  bootstrap.servers: ${brokers}\n`,
    'kafka-consumer.yml': `properties:\n  bootstrap.servers: ${brokers}\n  group.id: bench-standby-unused\n`,
    'kafka-streams.yml': [
      'properties:',
      `  bootstrap.servers: ${brokers}`,
      `  application.id: ${applicationId}`,
      '  processing.guarantee: exactly_once',
      `  state.dir: ${stateDir}`,
      '  commit.interval.ms: 100',
      `  num.standby.replicas: ${replicas}`,
      '  consumer.session.timeout.ms: 6000',
      '  consumer.heartbeat.interval.ms: 500',
      '  consumer.max.partition.fetch.bytes: 4194304',
      `  consumer.client.id: ${name}-${applicationId}`,
      // A restore or standby reader stalls on no record for this long before failing: 1M records take longer.
      'restoreTimeoutMs: 120000',
      '',
    ].join('\n'),
    'handler.yml': 'handlers: [kafka/producer@producer]\ndefaultHandlers:\n  produce: [producer]\n  consume: []\n',
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

async function waitUntil(predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

async function endOffset(admin: Admin, topic: string): Promise<bigint> {
  return (await admin.fetchTopicOffsets(topic)).reduce((sum, { high }) => sum + BigInt(high), 0n);
}

async function fill(kafka: Kafka, topic: string, keys: number): Promise<void> {
  const producer = kafka.producer({ idempotent: true, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const value = Buffer.from('{"n":1}');
  const started = Date.now();
  try {
    const inFlight: Promise<unknown>[] = [];
    for (let offset = 0; offset < keys; offset += 2000) {
      inFlight.push(producer.send({ topic, acks: -1, messages: Array.from({ length: Math.min(2000, keys - offset) }, (_, i) => ({ key: `key-${offset + i}`, value })) }));
      if (inFlight.length >= 4) await inFlight.shift();
    }
    await Promise.all(inFlight);
  } finally {
    await producer.disconnect();
  }
  console.log(`  input: ${keys} records in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

interface Result {
  transport: string;
  replicas: number;
  keys: number;
  changelogRecords: number;
  assignedMs: number;
  openMs: number;
  restored: number;
  fromStandby: boolean;
  probeMs: number;
  buildSeconds: number;
  /** From B's start to the group settled: B's standby caught up with the changelog (num.standby.replicas 1). */
  settledSeconds: number;
}

const taskOpen = (status: Status): boolean => status.tasks.length > 0 && status.tasks.every((task) => task.open);

async function run(kafka: Kafka, admin: Admin, brokers: string, transport: 'kafkajs' | 'librdkafka', replicas: number, input: string, keys: number): Promise<Result> {
  const applicationId = `bench-standby-${transport}-${replicas}-${Date.now().toString(36)}`;
  const output = `${applicationId}-out`;
  const changelog = `${applicationId}-counts-changelog`;
  await admin.createTopics({ topics: [{ topic: output, numPartitions: 1 }], waitForLeaders: true });
  const dirs = [configDir(brokers, transport, applicationId, replicas, 'a'), configDir(brokers, transport, applicationId, replicas, 'b')];
  const a = new Instance('A', dirs[0]!, { input, output });
  const b = new Instance('B', dirs[1]!, { input, output });
  try {
    const buildStarted = Date.now();
    await a.start();
    // Every input record (the keys, and the probes of earlier runs) processed and committed by A.
    const inputEnd = await endOffset(admin, input);
    const committed = async (): Promise<bigint> => (await admin.fetchOffsets({ groupId: applicationId, topics: [input] })).flatMap(({ partitions }) => partitions).reduce((sum, { offset }) => sum + (BigInt(offset) > 0n ? BigInt(offset) : 0n), 0n);
    await waitUntil(async () => (await committed()) >= inputEnd, 900_000, `A counted ${keys} keys`);
    const buildSeconds = (Date.now() - buildStarted) / 1000;
    const changelogEnd = await endOffset(admin, changelog);
    console.log(`  A built the store: ${keys} keys in ${buildSeconds.toFixed(1)} s (changelog end ${changelogEnd})`);

    const joinedAt = Date.now();
    await b.start();
    // Settled: one member runs the task, open; with a standby, the other's copy read the changelog to its end.
    await waitUntil(
      () => {
        const owners = [a, b].filter((instance) => instance.status && taskOpen(instance.status));
        if (owners.length !== 1) return false;
        if (replicas === 0) return true;
        const other = owners[0] === a ? b : a;
        const standby = other.status?.standbys[0];
        return standby !== undefined && standby.stores.every((store) => BigInt(store.checkpoint ?? '-1') >= changelogEnd);
      },
      900_000,
      'the group settled (and the standby caught up)',
    );
    const settledSeconds = (Date.now() - joinedAt) / 1000;
    // A few seconds more: the rebalance of B's join is over on both (no second one under way).
    await sleep(5000);
    const owner = [a, b].find((instance) => instance.status && taskOpen(instance.status))!;
    const survivor = owner === a ? b : a;
    console.log(`  owner ${owner.name}; survivor ${survivor.name} ${replicas > 0 ? `holds the standby (${JSON.stringify(survivor.status?.standbys[0]?.stores)})` : 'holds no copy'}`);

    // The probe's output is looked for from the output's end now.
    const from = await endOffset(admin, output);
    const probeKey = `probe-${applicationId}`;
    let probeAt = 0;
    const consumer = kafka.consumer({ groupId: `${applicationId}-probe`, readUncommitted: false, maxWaitTimeInMs: 50 });
    await consumer.connect();
    await consumer.subscribe({ topic: output, fromBeginning: false });
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (probeAt === 0 && message.key?.toString() === probeKey) probeAt = Date.now();
      },
    });
    await joined;
    consumer.seek({ topic: output, partition: 0, offset: String(from) });
    await sleep(500);

    const killedAt = Date.now();
    await owner.kill();
    const producer = kafka.producer({ idempotent: true, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({ topic: input, acks: -1, messages: [{ key: probeKey, value: '{"n":1}' }] });
    await producer.disconnect();
    await waitUntil(() => probeAt > 0, 900_000, 'the probe counted on the survivor');
    await consumer.disconnect();

    const assignedAt = survivor.firstStatusAfter(killedAt, (status) => status.tasks.length > 0) ?? Number.NaN;
    const openAt = survivor.firstStatusAfter(killedAt, taskOpen) ?? Number.NaN;
    const opened = survivor.logs.find((line) => (line.msg === 'streams task opened' || line.msg === 'streams task opened from a warm standby') && Date.parse(line.time) >= killedAt - 1000);
    const result: Result = {
      transport,
      replicas,
      keys,
      changelogRecords: Number(changelogEnd),
      assignedMs: assignedAt - killedAt,
      openMs: openAt - killedAt,
      restored: Number(opened?.restored ?? Number.NaN),
      fromStandby: opened?.msg === 'streams task opened from a warm standby',
      probeMs: probeAt - killedAt,
      buildSeconds,
      settledSeconds,
    };
    console.log(`  kill -> assigned ${result.assignedMs} ms, -> open ${result.openMs} ms (restored ${result.restored}${result.fromStandby ? ', from a warm standby' : ''}), -> probe counted ${result.probeMs} ms`);
    return result;
  } finally {
    await Promise.allSettled([a.stop(), b.stop()]);
    await admin.deleteTopics({ topics: [output, changelog] }).catch(() => undefined);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

function table(results: Result[], options: Options, brokers: string): string {
  const seconds = (ms: number): string => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : 'n/a');
  const rows = results.map(
    (r) =>
      `| ${r.transport} | ${r.replicas} | ${seconds(r.assignedMs)} | ${seconds(r.openMs)} | ${r.restored.toLocaleString('en-US')}${r.fromStandby ? ' (warm standby)' : ''} | ${seconds(r.probeMs)} | ${seconds(r.openMs - r.assignedMs)} | ${r.buildSeconds.toFixed(1)} | ${r.replicas > 0 ? r.settledSeconds.toFixed(1) : ''} |`,
  );
  return [
    '# Standby replicas: fail-over time',
    '',
    `Measured by \`node dist/bench/standby-failover.js --keys ${options.keys}\` (bench/standby-failover.ts) on ${new Date().toISOString().slice(0, 10)}:`,
    `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, one local broker (${brokers}); a single run per row on a shared`,
    'machine, so take the figures to a second or so.',
    '',
    `A task whose store holds ${options.keys.toLocaleString('en-US')} keys (a changelog of as many records; one-partition input, exactly_once,`,
    'commit.interval.ms 100, session.timeout.ms 6000, heartbeat.interval.ms 500) runs on one of two instances; the owner is',
    'killed with SIGKILL and a probe record is produced to the input at once. Times from the kill, on the survivor:',
    '',
    '| transport | num.standby.replicas | task assigned (s) | task open (s) | changelog records restored | probe counted in the output (s) | assigned -> open (s) | store built by A (s) | B\'s standby caught up after its start (s) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    '- *task assigned*: the group noticed the death (the session timeout, 6 s) and rebalanced.',
    '- *task open*: the task fenced the dead owner (its producer), read the committed offsets and restored its store',
    '  (the whole changelog without a copy; with a warm standby only what it had not read: the standby follows the',
    '  changelog continuously, so by the time the session times out it is caught up).',
    '- *probe counted*: the probe record processed and its count committed and readable (read_committed).',
    '- *store built by A*: A alone counting every input record (exactly_once), from its start; *standby caught up*:',
    "  from B's start to its copy at the changelog's end (B's own start and the rebalance included).",
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const handle = await ensureKafka({ heap: process.env.LIGHT_KAFKA_LOCAL_HEAP ?? '1g' });
  const brokers = handle.brokers;
  const kafka = new Kafka({ brokers: brokers.split(','), clientId: 'bench-standby', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const input = `bench-standby-in-${Date.now().toString(36)}`;
  const results: Result[] = [];
  try {
    await admin.createTopics({ topics: [{ topic: input, numPartitions: 1 }], waitForLeaders: true });
    await fill(kafka, input, options.keys);
    for (const transport of options.transports) {
      for (const replicas of options.replicas) {
        console.log(`${transport}, num.standby.replicas ${replicas}:`);
        results.push(await run(kafka, admin, brokers, transport, replicas, input, options.keys));
      }
    }
  } finally {
    await admin.deleteTopics({ topics: [input] }).catch(() => undefined);
    await admin.disconnect();
  }
  const markdown = table(results, options, brokers);
  writeFileSync(join(PACKAGE_ROOT, 'bench', 'results', 'standby-failover.md'), markdown);
  console.log(`\n${markdown}`);
  if (handle.owned) await handle.stop();
}

await main();
