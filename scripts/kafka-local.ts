/**
 * A real single-node Apache Kafka (KRaft, broker + controller) on 127.0.0.1 for the demo, the tests and the
 * benchmarks. The jars come from Maven Central through Maven into .kafka-local/ (git-ignored).
 *
 *   node dist/scripts/kafka-local.js start|stop|status|fetch
 *
 * KAFKA_BROKERS points everything at an existing cluster instead; a broker already answering on the port is reused.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { PACKAGE_ROOT } from '../core/package-root.js';

export const KAFKA_VERSION_POM = join(PACKAGE_ROOT, 'scripts', 'kafka', 'pom.xml');

export interface LocalKafkaOptions {
  /** Where jars, data and logs go. Default: LIGHT_KAFKA_LOCAL_DIR or <package>/.kafka-local. */
  dir?: string;
  /** Broker port on 127.0.0.1 (the controller uses port + 1). Default: LIGHT_KAFKA_LOCAL_PORT or 9092. */
  port?: number;
  /** Java heap, e.g. 768m. Default: LIGHT_KAFKA_LOCAL_HEAP or 768m. */
  heap?: string;
  /** How long to wait for the broker to answer. */
  readyTimeoutMs?: number;
  /** Use KAFKA_BROKERS when set (default true); false always gives a local broker (tests that stop one). */
  useKafkaBrokersEnv?: boolean;
  log?: (line: string) => void;
}

export interface KafkaHandle {
  /** host:port list for bootstrap.servers / KAFKA_BROKERS. */
  brokers: string;
  /** True when this call started the broker (and `stop` will stop it). */
  owned: boolean;
  stop(): Promise<void>;
}

interface Paths {
  dir: string;
  libs: string;
  data: string;
  properties: string;
  log4j: string;
  pidFile: string;
  stdout: string;
  brokerLog: string;
  fetchLog: string;
}

function resolveOptions(options: LocalKafkaOptions): Required<Omit<LocalKafkaOptions, 'log'>> & { log: (line: string) => void } {
  return {
    useKafkaBrokersEnv: options.useKafkaBrokersEnv ?? true,
    dir: options.dir ?? process.env.LIGHT_KAFKA_LOCAL_DIR ?? join(PACKAGE_ROOT, '.kafka-local'),
    port: options.port ?? Number(process.env.LIGHT_KAFKA_LOCAL_PORT ?? 9092),
    heap: options.heap ?? process.env.LIGHT_KAFKA_LOCAL_HEAP ?? '768m',
    readyTimeoutMs: options.readyTimeoutMs ?? 120_000,
    log: options.log ?? ((line) => process.stderr.write(`[kafka-local] ${line}\n`)),
  };
}

/** The jars are shared; each port has its own data, config, pid and log files, so brokers can run side by side. */
function pathsOf(dir: string, port: number): Paths {
  const suffix = port === 9092 ? '' : `-${port}`;
  return {
    dir,
    libs: join(dir, 'libs'),
    data: join(dir, `data${suffix}`),
    properties: join(dir, `server${suffix}.properties`),
    log4j: join(dir, `log4j${suffix}.properties`),
    pidFile: join(dir, `broker${suffix}.pid`),
    stdout: join(dir, `broker${suffix}.out`),
    brokerLog: join(dir, `broker${suffix}.log`),
    fetchLog: join(dir, 'fetch.log'),
  };
}

/** Returns a broker that answers: KAFKA_BROKERS, one already running on the port, or a new local one. */
export async function ensureKafka(options: LocalKafkaOptions = {}): Promise<KafkaHandle> {
  const opts = resolveOptions(options);
  const external = opts.useKafkaBrokersEnv ? process.env.KAFKA_BROKERS : undefined;
  if (external) {
    if (!(await answersMetadata(external, 15_000))) throw new Error(`KAFKA_BROKERS=${external} does not answer a metadata request`);
    return { brokers: external, owned: false, stop: async () => undefined };
  }
  const brokers = `127.0.0.1:${opts.port}`;
  const paths = pathsOf(opts.dir, opts.port);
  const runningPid = readPid(paths);
  if ((await portOpen(opts.port)) || runningPid !== undefined) {
    if (await answersMetadata(brokers, opts.readyTimeoutMs)) {
      opts.log(`reusing the broker already running on ${brokers}`);
      return { brokers, owned: false, stop: async () => undefined };
    }
    if (await portOpen(opts.port)) throw new Error(`port ${opts.port} is taken by something that is not a Kafka broker; set LIGHT_KAFKA_LOCAL_PORT`);
  }
  await fetchKafka(options);
  startBroker(paths, opts);
  try {
    await waitUntilReady(paths, brokers, opts.readyTimeoutMs);
  } catch (error) {
    await stopBroker(paths);
    throw error;
  }
  opts.log(`broker ready on ${brokers} (logs in ${paths.dir})`);
  return { brokers, owned: true, stop: () => stopBroker(paths) };
}

/** Downloads the Kafka jars with Maven unless they are there already. */
export async function fetchKafka(options: LocalKafkaOptions = {}): Promise<string> {
  const opts = resolveOptions(options);
  const paths = pathsOf(opts.dir, opts.port);
  if (hasJars(paths)) return paths.libs;
  requireTool('java', ['-version'], 'Java 17 or newer is needed to run the local Kafka broker (apt-get install openjdk-17-jre-headless)');
  requireTool('mvn', ['-v'], 'Maven is needed to fetch the Kafka jars from Maven Central (apt-get install maven)');
  mkdirSync(paths.dir, { recursive: true });
  opts.log(`fetching Apache Kafka jars with Maven into ${paths.libs} (once)`);
  const result = spawnSync('mvn', ['-q', '-B', '-f', KAFKA_VERSION_POM, 'dependency:copy-dependencies', `-DoutputDirectory=${paths.libs}`], {
    encoding: 'utf8',
  });
  writeFileSync(paths.fetchLog, `${result.stdout ?? ''}${result.stderr ?? ''}`);
  if (result.status !== 0 || !hasJars(paths)) {
    throw new Error(`Maven could not fetch the Kafka jars (exit ${result.status}); see ${paths.fetchLog}:\n${tail(paths.fetchLog)}`);
  }
  return paths.libs;
}

function hasJars(paths: Paths): boolean {
  return existsSync(paths.libs) && readdirSync(paths.libs).some((file) => /^kafka_2\.13-3\.9\.\d+\.jar$/.test(file));
}

function requireTool(command: string, args: string[], message: string): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error || result.status !== 0) throw new Error(`${message}: '${command}' is not available`);
}

function startBroker(paths: Paths, opts: ReturnType<typeof resolveOptions>): void {
  // A fresh log folder each start: no state from an earlier run (topics, groups, a different cluster id).
  rmSync(paths.data, { recursive: true, force: true });
  mkdirSync(paths.data, { recursive: true });
  writeFileSync(paths.properties, serverProperties(paths, opts.port));
  writeFileSync(paths.log4j, log4jProperties(paths.brokerLog));
  const classpath = join(paths.libs, '*');
  const clusterId = newClusterId();
  const format = spawnSync('java', ['-cp', classpath, `-Dlog4j.configuration=file:${paths.log4j}`, 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '--config', paths.properties], {
    encoding: 'utf8',
  });
  if (format.status !== 0) throw new Error(`formatting the Kafka log folder failed:\n${format.stdout}${format.stderr}`);
  const out = openSync(paths.stdout, 'w');
  const child = spawn(
    'java',
    [`-Xms256m`, `-Xmx${opts.heap}`, '-XX:+UseG1GC', '-Djava.awt.headless=true', `-Dlog4j.configuration=file:${paths.log4j}`, `-Dkafka.logs.dir=${paths.dir}`, '-cp', classpath, 'kafka.Kafka', paths.properties],
    { detached: true, stdio: ['ignore', out, out] },
  );
  closeSync(out);
  child.unref();
  writeFileSync(paths.pidFile, String(child.pid));
  opts.log(`started Kafka (pid ${child.pid}, heap ${opts.heap}) on 127.0.0.1:${opts.port}`);
}

/** A Kafka cluster id: 16 random bytes, base64url. Like Kafka's Uuid.randomUuid, never one starting with '-'. */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

async function waitUntilReady(paths: Paths, brokers: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const port = Number(brokers.split(':')[1]);
  while (Date.now() < deadline) {
    const pid = readPid(paths);
    if (pid === undefined) throw new Error(`the Kafka broker exited during start; see ${paths.stdout} and ${paths.brokerLog}:\n${tail(paths.stdout)}`);
    if ((await portOpen(port)) && (await answersMetadata(brokers, 5_000))) return;
    await sleep(500);
  }
  throw new Error(`the Kafka broker did not answer within ${timeoutMs} ms; see ${paths.dir}`);
}

/** Stops the broker this script started (SIGTERM, then SIGKILL after 30 s). */
export async function stopBroker(paths: Paths = defaultPaths()): Promise<void> {
  const pid = readPid(paths);
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  const deadline = Date.now() + 30_000;
  while (isAlive(pid) && Date.now() < deadline) await sleep(200);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(paths.pidFile, { force: true });
}

/** The pid of a broker this script started that is still alive. */
function readPid(paths: Paths): number | undefined {
  if (!existsSync(paths.pidFile)) return undefined;
  const pid = Number(readFileSync(paths.pidFile, 'utf8').trim());
  return Number.isInteger(pid) && isAlive(pid) ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Ready means a metadata request through the admin client answers. */
export async function answersMetadata(brokers: string, timeoutMs: number): Promise<boolean> {
  const admin = new Kafka({
    brokers: brokers.split(','),
    clientId: 'light-kafka-local-check',
    logLevel: logLevel.NOTHING,
    connectionTimeout: Math.min(timeoutMs, 3000),
    requestTimeout: timeoutMs,
    retry: { retries: 2, initialRetryTime: 200 },
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

function serverProperties(paths: Paths, port: number): string {
  const controllerPort = port + 1;
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${paths.data}`,
    'num.partitions=1',
    'auto.create.topics.enable=true',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=4',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=4',
    'group.initial.rebalance.delay.ms=0',
    'log.retention.hours=2',
    'log.segment.bytes=67108864',
    '',
  ].join('\n');
}

function defaultPaths(): Paths {
  const opts = resolveOptions({});
  return pathsOf(opts.dir, opts.port);
}

function log4jProperties(brokerLog: string): string {
  const file = brokerLog.replace(/\\/g, '/');
  return [
    'log4j.rootLogger=INFO, file',
    'log4j.appender.file=org.apache.log4j.RollingFileAppender',
    `log4j.appender.file.File=${file}`,
    'log4j.appender.file.MaxFileSize=20MB',
    'log4j.appender.file.MaxBackupIndex=2',
    'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
    'log4j.logger.kafka=INFO',
    'log4j.logger.org.apache.kafka=INFO',
    '',
  ].join('\n');
}

function tail(file: string, lines = 30): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
}

async function main(command: string | undefined): Promise<void> {
  switch (command) {
    case 'fetch':
      console.log(await fetchKafka());
      return;
    case 'start': {
      const handle = await ensureKafka();
      console.log(handle.brokers);
      return;
    }
    case 'stop':
      await stopBroker();
      return;
    case 'status': {
      const brokers = process.env.KAFKA_BROKERS ?? `127.0.0.1:${resolveOptions({}).port}`;
      const up = await answersMetadata(brokers, 5_000);
      console.log(up ? `up ${brokers}` : `down ${brokers}`);
      process.exitCode = up ? 0 : 1;
      return;
    }
    default:
      console.error('usage: kafka-local start|stop|status|fetch');
      process.exitCode = 2;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv[2]).catch((error: unknown) => {
    console.error(`[kafka-local] ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
}
