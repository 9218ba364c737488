/**
 * A real Apache Kafka on 127.0.0.1 for the demo, the tests and the benchmarks: one KRaft node (broker +
 * controller), or a cluster of 3 such nodes (replication factor 3, min.insync.replicas 2) for fault tests.
 * The jars come from Maven Central through Maven into .kafka-local/ (git-ignored). A node's data is kept across a
 * stop and a start; `fresh` (--fresh) starts from empty log folders.
 *
 *   node dist/scripts/kafka-local.js start [--brokers 3] [--fresh] [--kafka-version 3.9.1] | stop | status | fetch [--kafka-version 3.9.1]
 *
 * The broker is Apache Kafka 4.4.0 (the newest 4.x release Maven Central serves here) unless --kafka-version /
 * LIGHT_KAFKA_VERSION names another 4.x release or 3.9.1. Each version has its own jar folder (libs/ for 3.9.1,
 * libs-<version>/ for the others) and, for versions other than 3.9.1 (which keeps the names it had when it was the
 * default), its own data, config, pid and log files (suffix -k<version>), so 3.9.1 and 4.x sit side by side.
 *
 * KAFKA_BROKERS points everything at an existing cluster instead; a broker already answering on the port is reused.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import { PACKAGE_ROOT } from '../core/package-root.js';
import { isMain } from './is-main.js';
import { isAlive, livePid, portOpen, requireTool, runMaven, tailOfFile } from './local-process.js';
import { MavenDownloadProgress } from './maven-progress.js';

export const KAFKA_VERSION_POM = join(PACKAGE_ROOT, 'scripts', 'kafka', 'pom.xml');
/** The pom for Kafka 4.x: its version comes as -Dkafka.version; it brings SLF4J 2 with log4j2 instead of reload4j. */
export const KAFKA4_POM = join(PACKAGE_ROOT, 'scripts', 'kafka', 'pom-kafka4.xml');
/** The newest Kafka 4 release that Maven Central serves here (4.0.1 to 4.4.0 are served). */
export const LATEST_KAFKA4_VERSION = '4.4.0';
/** The version the launcher runs unless told otherwise (pom-kafka4.xml takes it as -Dkafka.version). */
export const DEFAULT_KAFKA_VERSION = LATEST_KAFKA4_VERSION;
/** The one Kafka 3 release the launcher runs (pom.xml pins it); its files keep the names of the older layout. */
export const KAFKA3_VERSION = '3.9.1';

/** Checks a broker version the launcher can run: 3.9.1 (pom.xml) or a 4.x release (pom-kafka4.xml). */
export function checkKafkaVersion(version: string): string {
  if (version === KAFKA3_VERSION || /^4\.\d+\.\d+$/.test(version)) return version;
  throw new Error(`the local launcher runs Kafka ${KAFKA3_VERSION} or a 4.x release (e.g. ${LATEST_KAFKA4_VERSION}), not ${JSON.stringify(version)}`);
}

/** Kafka 4 dropped ZooKeeper and logs with log4j2; 3.9 logs with reload4j (log4j 1 properties). */
export function isKafka4(version: string): boolean {
  return version.startsWith('4.');
}

export interface LocalKafkaOptions {
  /** Where jars, data and logs go. Default: LIGHT_KAFKA_LOCAL_DIR or <package>/.kafka-local. */
  dir?: string;
  /**
   * The first node's broker port on 127.0.0.1. Node i (1-based) listens on port + 2(i-1), its controller on the
   * port after it. Default: LIGHT_KAFKA_LOCAL_PORT or 9092.
   */
  port?: number;
  /** Nodes in the cluster: 1 or 3. Default: LIGHT_KAFKA_LOCAL_BROKERS or 1. */
  brokers?: number;
  /** Empty every node's log folder before it starts (default: keep the data of an earlier run). */
  fresh?: boolean;
  /** Java heap per node, e.g. 768m. Default: LIGHT_KAFKA_LOCAL_HEAP, or 768m for one node and 512m each for 3. */
  heap?: string;
  /** Apache Kafka version: 3.9.1 or a 4.x release. Default: LIGHT_KAFKA_VERSION or 4.4.0. */
  version?: string;
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
  /** The local nodes, for fault tests (empty for KAFKA_BROKERS). */
  nodes: LocalNode[];
  stop(): Promise<void>;
}

/** One local KRaft node: kill it (SIGKILL by default, as a crash) and start it again with its data. */
export interface LocalNode {
  nodeId: number;
  /** host:port of its broker listener. */
  address: string;
  pid(): number | undefined;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the node again (keeping its data) and waits until its broker answers. */
  restart(): Promise<void>;
}

interface Paths {
  version: string;
  dir: string;
  libs: string;
  data: string;
  properties: string;
  /** log4j 1 properties for 3.9, log4j2 properties for 4.x. */
  log4j: string;
  pidFile: string;
  stdout: string;
  brokerLog: string;
  fetchLog: string;
}

type ResolvedOptions = Required<Omit<LocalKafkaOptions, 'log'>> & { log: (line: string) => void };

function resolveOptions(options: LocalKafkaOptions): ResolvedOptions {
  const brokers = options.brokers ?? Number(process.env.LIGHT_KAFKA_LOCAL_BROKERS ?? 1);
  if (brokers !== 1 && brokers !== 3) throw new Error(`a local cluster has 1 or 3 brokers, not ${brokers}`);
  return {
    useKafkaBrokersEnv: options.useKafkaBrokersEnv ?? true,
    dir: options.dir ?? process.env.LIGHT_KAFKA_LOCAL_DIR ?? join(PACKAGE_ROOT, '.kafka-local'),
    port: options.port ?? Number(process.env.LIGHT_KAFKA_LOCAL_PORT ?? 9092),
    brokers,
    fresh: options.fresh ?? false,
    heap: options.heap ?? process.env.LIGHT_KAFKA_LOCAL_HEAP ?? (brokers === 1 ? '768m' : '512m'),
    version: checkKafkaVersion(options.version ?? (process.env.LIGHT_KAFKA_VERSION || DEFAULT_KAFKA_VERSION)),
    readyTimeoutMs: options.readyTimeoutMs ?? 120_000,
    log: options.log ?? ((line) => process.stderr.write(`[kafka-local] ${line}\n`)),
  };
}

/** Where node `nodeId` of a cluster of `size` nodes whose first broker port is `port` listens. */
interface NodeLayout {
  nodeId: number;
  port: number;
  controllerPort: number;
  paths: Paths;
}

function clusterLayout(opts: ResolvedOptions): NodeLayout[] {
  return Array.from({ length: opts.brokers }, (_, index) => {
    const port = opts.port + 2 * index;
    return { nodeId: index + 1, port, controllerPort: port + 1, paths: pathsOf(opts.dir, opts.port, opts.brokers, index + 1, opts.version) };
  });
}

/**
 * The jars are shared; each node has its own data, config, pid and log files, so clusters can run side by side.
 * A single 3.9.1 node on 9092 keeps the names it had as the default (data/, broker.pid, broker.log). Another
 * version has its own jar folder (libs-<version>) and the suffix -k<version> on its files: a log folder formatted by
 * one version is never opened by another.
 */
function pathsOf(dir: string, port: number, size = 1, nodeId = 1, version = DEFAULT_KAFKA_VERSION): Paths {
  const other = version !== KAFKA3_VERSION;
  const suffix = (port === 9092 ? '' : `-${port}`) + (size === 1 ? '' : `-c${size}n${nodeId}`) + (other ? `-k${version}` : '');
  return {
    version,
    dir,
    libs: join(dir, other ? `libs-${version}` : 'libs'),
    data: join(dir, `data${suffix}`),
    properties: join(dir, `server${suffix}.properties`),
    log4j: join(dir, isKafka4(version) ? `log4j2${suffix}.properties` : `log4j${suffix}.properties`),
    pidFile: join(dir, `broker${suffix}.pid`),
    stdout: join(dir, `broker${suffix}.out`),
    brokerLog: join(dir, `broker${suffix}.log`),
    fetchLog: join(dir, 'fetch.log'),
  };
}

/** Returns brokers that answer: KAFKA_BROKERS, a local cluster already running on the ports, or a new one. */
export async function ensureKafka(options: LocalKafkaOptions = {}): Promise<KafkaHandle> {
  const opts = resolveOptions(options);
  const external = opts.useKafkaBrokersEnv ? process.env.KAFKA_BROKERS : undefined;
  if (external) {
    if (!(await answersMetadata(external, 15_000))) throw new Error(`KAFKA_BROKERS=${external} does not answer a metadata request`);
    return { brokers: external, owned: false, nodes: [], stop: async () => undefined };
  }
  const layout = clusterLayout(opts);
  const brokers = layout.map((node) => `127.0.0.1:${node.port}`).join(',');
  const nodes = layout.map((node) => localNode(node, opts));
  const running = layout.filter((node) => readPid(node.paths) !== undefined);
  if ((await portOpen(opts.port)) || running.length > 0) {
    const size = await clusterSize(`127.0.0.1:${opts.port}`, opts.readyTimeoutMs);
    if (size === opts.brokers) {
      opts.log(`reusing the ${size}-broker cluster already running on ${brokers}`);
      return { brokers, owned: false, nodes, stop: async () => undefined };
    }
    if (size !== undefined) {
      throw new Error(`a ${size}-broker Kafka already runs on 127.0.0.1:${opts.port}, not ${opts.brokers}: stop it (npm run kafka:stop) or set LIGHT_KAFKA_LOCAL_PORT`);
    }
    if (await portOpen(opts.port)) throw new Error(`port ${opts.port} is taken by something that is not a Kafka broker; set LIGHT_KAFKA_LOCAL_PORT`);
  }
  await fetchKafka(options);
  const clusterId = prepareLogFolders(layout, opts);
  try {
    for (const node of layout) startNode(node, layout, clusterId, opts);
    await waitUntilReady(layout, opts.brokers, opts.readyTimeoutMs);
  } catch (error) {
    await Promise.all(layout.map((node) => stopBroker(node.paths)));
    throw error;
  }
  opts.log(`${opts.brokers === 1 ? 'broker' : `${opts.brokers}-broker cluster`} ready on ${brokers} (logs in ${opts.dir})`);
  return { brokers, owned: true, nodes, stop: () => Promise.all(layout.map((node) => stopBroker(node.paths))).then(() => undefined) };
}

function localNode(node: NodeLayout, opts: ResolvedOptions): LocalNode {
  const address = `127.0.0.1:${node.port}`;
  return {
    nodeId: node.nodeId,
    address,
    pid: () => readPid(node.paths),
    kill: async (signal = 'SIGKILL') => {
      const pid = readPid(node.paths);
      if (pid === undefined) return;
      process.kill(pid, signal);
      const deadline = Date.now() + 30_000;
      while (isAlive(pid) && Date.now() < deadline) await sleep(50);
    },
    restart: async () => {
      if (readPid(node.paths) !== undefined) throw new Error(`node ${node.nodeId} (${address}) is still running`);
      const layout = clusterLayout(opts);
      startNode(node, layout, clusterIdOf(node.paths)!, opts);
      const deadline = Date.now() + opts.readyTimeoutMs;
      while (!(await portOpen(node.port)) || !(await answersMetadata(address, 5_000))) {
        if (readPid(node.paths) === undefined) throw new Error(`node ${node.nodeId} exited during start; see ${node.paths.brokerLog}:\n${tailOfFile(node.paths.stdout)}`);
        if (Date.now() > deadline) throw new Error(`node ${node.nodeId} did not answer within ${opts.readyTimeoutMs} ms`);
        await sleep(200);
      }
    },
  };
}

/**
 * Formats the nodes' log folders with one cluster id, unless they hold a formatted cluster already (its data is
 * kept) and no fresh start was asked for. Returns the cluster id.
 */
function prepareLogFolders(layout: NodeLayout[], opts: ResolvedOptions): string {
  const ids = layout.map((node) => (opts.fresh ? undefined : clusterIdOf(node.paths)));
  const kept = ids[0];
  if (kept !== undefined && ids.every((id) => id === kept)) {
    opts.log(`keeping the data of cluster ${kept} (--fresh starts from empty log folders)`);
    return kept;
  }
  const clusterId = newClusterId();
  for (const node of layout) {
    rmSync(node.paths.data, { recursive: true, force: true });
    mkdirSync(node.paths.data, { recursive: true });
    writeFileSync(node.paths.properties, serverProperties(node, layout));
    writeFileSync(node.paths.log4j, loggingConfig(node.paths));
    const format = spawnSync(
      'java',
      ['-cp', join(node.paths.libs, '*'), loggingFlag(node.paths), 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '--config', node.paths.properties],
      { encoding: 'utf8' },
    );
    if (format.status !== 0) throw new Error(`formatting the Kafka log folder ${node.paths.data} failed:\n${format.stdout}${format.stderr}`);
  }
  return clusterId;
}

/** The cluster id a formatted log folder belongs to (meta.properties), if any. */
function clusterIdOf(paths: Paths): string | undefined {
  const meta = join(paths.data, 'meta.properties');
  if (!existsSync(meta)) return undefined;
  return /^cluster\.id=(.+)$/m.exec(readFileSync(meta, 'utf8'))?.[1]?.trim();
}

/** Downloads the Kafka jars with Maven unless they are there already. */
export async function fetchKafka(options: LocalKafkaOptions = {}): Promise<string> {
  const opts = resolveOptions(options);
  const paths = pathsOf(opts.dir, opts.port, 1, 1, opts.version);
  if (hasJars(paths)) return paths.libs;
  requireTool('java', ['-version'], 'Java 17 or newer is needed to run the local Kafka broker (apt-get install openjdk-17-jre-headless)');
  requireTool('mvn', ['-v'], 'Maven is needed to fetch the Kafka jars from Maven Central (apt-get install maven)');
  mkdirSync(paths.dir, { recursive: true });
  opts.log(`fetching Apache Kafka ${opts.version} jars with Maven into ${paths.libs} (once; up to 67 MB with an empty ~/.m2)`);
  const pom = isKafka4(opts.version) ? ['-f', KAFKA4_POM, `-Dkafka.version=${opts.version}`] : ['-f', KAFKA_VERSION_POM];
  const started = Date.now();
  const progress = new MavenDownloadProgress();
  let lastReport = started;
  const { status, output } = await runMaven(['-B', ...pom, 'dependency:copy-dependencies', `-DoutputDirectory=${paths.libs}`], (line) => {
    // A line every 2 s while files arrive: with an empty ~/.m2 the fetch downloads 567 files, 67 MB (measured).
    if (progress.read(line) && Date.now() - lastReport >= 2000) {
      lastReport = Date.now();
      opts.log(`  ${progress.describe()}`);
    }
  });
  writeFileSync(paths.fetchLog, output);
  if (status !== 0 || !hasJars(paths)) {
    throw new Error(`Maven could not fetch the Kafka jars (exit ${status}); see ${paths.fetchLog}:\n${tailOfFile(paths.fetchLog)}`);
  }
  opts.log(`Kafka jars in place: ${readdirSync(paths.libs).length} jars, ${progress.describe()} (the rest from ~/.m2), ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return paths.libs;
}

function hasJars(paths: Paths): boolean {
  if (!existsSync(paths.libs)) return false;
  const files = readdirSync(paths.libs);
  if (!isKafka4(paths.version)) return files.some((file) => /^kafka_2\.13-3\.9\.\d+\.jar$/.test(file));
  return files.includes(`kafka_2.13-${paths.version}.jar`) && files.some((file) => file.startsWith('log4j-slf4j2-impl-'));
}

function startNode(node: NodeLayout, layout: NodeLayout[], clusterId: string, opts: ResolvedOptions): void {
  const { paths } = node;
  writeFileSync(paths.properties, serverProperties(node, layout));
  writeFileSync(paths.log4j, loggingConfig(paths));
  const out = openSync(paths.stdout, 'w');
  const child = spawn(
    'java',
    [`-Xms256m`, `-Xmx${opts.heap}`, '-XX:+UseG1GC', '-Djava.awt.headless=true', loggingFlag(paths), `-Dkafka.logs.dir=${paths.dir}`, '-cp', join(paths.libs, '*'), 'kafka.Kafka', paths.properties],
    { detached: true, stdio: ['ignore', out, out] },
  );
  closeSync(out);
  child.unref();
  writeFileSync(paths.pidFile, String(child.pid));
  opts.log(`started Kafka ${paths.version} node ${node.nodeId} of cluster ${clusterId} (pid ${child.pid}, heap ${opts.heap}) on 127.0.0.1:${node.port}`);
}

/** A Kafka cluster id: 16 random bytes, base64url. Like Kafka's Uuid.randomUuid, never one starting with '-'. */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

async function waitUntilReady(layout: NodeLayout[], size: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const first = `127.0.0.1:${layout[0]!.port}`;
  while (Date.now() < deadline) {
    for (const node of layout) {
      if (readPid(node.paths) === undefined) {
        throw new Error(`Kafka node ${node.nodeId} exited during start; see ${node.paths.stdout} and ${node.paths.brokerLog}:\n${tailOfFile(node.paths.stdout)}`);
      }
    }
    if ((await portOpen(layout[0]!.port)) && (await clusterSize(first, 5_000)) === size) return;
    await sleep(500);
  }
  throw new Error(`the local Kafka did not have ${size} broker(s) answering within ${timeoutMs} ms; see ${layout[0]!.paths.dir}`);
}

/** Stops the broker this script started (SIGTERM, then SIGKILL after 30 s). */
export async function stopBroker(paths: Paths): Promise<void> {
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
  return livePid(paths.pidFile);
}

/** Ready means a metadata request through the admin client answers. */
export async function answersMetadata(brokers: string, timeoutMs: number): Promise<boolean> {
  return (await clusterSize(brokers, timeoutMs)) !== undefined;
}

/** How many brokers the cluster reports, or undefined when no metadata request answers. */
export async function clusterSize(brokers: string, timeoutMs: number): Promise<number | undefined> {
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
    return cluster.brokers.length > 0 ? cluster.brokers.length : undefined;
  } catch {
    return undefined;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

function serverProperties(node: NodeLayout, layout: NodeLayout[]): string {
  const replicas = layout.length;
  const minIsr = replicas === 1 ? 1 : 2;
  return [
    'process.roles=broker,controller',
    `node.id=${node.nodeId}`,
    `controller.quorum.voters=${layout.map((peer) => `${peer.nodeId}@127.0.0.1:${peer.controllerPort}`).join(',')}`,
    `listeners=PLAINTEXT://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${node.port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${node.paths.data}`,
    'num.partitions=1',
    `default.replication.factor=${replicas}`,
    `min.insync.replicas=${minIsr}`,
    'auto.create.topics.enable=true',
    `offsets.topic.replication.factor=${replicas}`,
    'offsets.topic.num.partitions=4',
    `transaction.state.log.replication.factor=${replicas}`,
    `transaction.state.log.min.isr=${minIsr}`,
    'transaction.state.log.num.partitions=4',
    'group.initial.rebalance.delay.ms=0',
    // The consumer group protocol (KIP-848) takes a member's session timeout from the broker (45 s by default, and
    // no less): a local broker notices a dead member as soon as the classic protocol's settings in the tests do.
    'group.consumer.min.session.timeout.ms=3000',
    'group.consumer.session.timeout.ms=10000',
    'group.consumer.min.heartbeat.interval.ms=500',
    'group.consumer.heartbeat.interval.ms=1000',
    // A killed leader's partitions move within seconds; unclean election stays off, so nothing acked is dropped.
    'unclean.leader.election.enable=false',
    'log.retention.hours=2',
    'log.segment.bytes=67108864',
    '',
  ].join('\n');
}

/** Stops every node this script started under `dir` (any port, any cluster size). */
export async function stopAll(dir = resolveOptions({}).dir): Promise<number> {
  if (!existsSync(dir)) return 0;
  const pidFiles = readdirSync(dir).filter((file) => /^broker.*\.pid$/.test(file));
  await Promise.all(pidFiles.map((file) => stopBroker({ ...pathsOf(dir, 9092), pidFile: join(dir, file) })));
  return pidFiles.length;
}

/** The JVM flag that points the logging at the node's configuration: log4j 1 (reload4j) for 3.9, log4j2 for 4.x. */
function loggingFlag(paths: Paths): string {
  return isKafka4(paths.version) ? `-Dlog4j2.configurationFile=${paths.log4j}` : `-Dlog4j.configuration=file:${paths.log4j}`;
}

function loggingConfig(paths: Paths): string {
  return isKafka4(paths.version) ? log4j2Properties(paths.brokerLog) : log4jProperties(paths.brokerLog);
}

/** Kafka 4 logs through SLF4J 2 with log4j2: the same file, size and pattern as the 3.9 log4j properties. */
export function log4j2Properties(brokerLog: string): string {
  const file = brokerLog.replace(/\\/g, '/');
  return [
    'status=warn',
    'appender.file.type=RollingFile',
    'appender.file.name=file',
    `appender.file.fileName=${file}`,
    `appender.file.filePattern=${file}.%i`,
    'appender.file.layout.type=PatternLayout',
    'appender.file.layout.pattern=[%d] %p %m (%c)%n',
    'appender.file.policies.type=Policies',
    'appender.file.policies.size.type=SizeBasedTriggeringPolicy',
    'appender.file.policies.size.size=20MB',
    'appender.file.strategy.type=DefaultRolloverStrategy',
    'appender.file.strategy.max=2',
    'rootLogger.level=INFO',
    'rootLogger.appenderRef.file.ref=file',
    'logger.kafka.name=kafka',
    'logger.kafka.level=INFO',
    'logger.apache.name=org.apache.kafka',
    'logger.apache.level=INFO',
    '',
  ].join('\n');
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

function cliOptions(args: string[]): LocalKafkaOptions {
  const options: LocalKafkaOptions = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--fresh') options.fresh = true;
    else if (arg === '--brokers') options.brokers = Number(args[++i]);
    else if (arg.startsWith('--brokers=')) options.brokers = Number(arg.slice('--brokers='.length));
    else if (arg === '--kafka-version') options.version = checkKafkaVersion(args[++i] ?? '');
    else if (arg.startsWith('--kafka-version=')) options.version = checkKafkaVersion(arg.slice('--kafka-version='.length));
    else throw new Error(`unknown option ${arg} (start takes --brokers 1|3, --fresh and --kafka-version 4.x|${KAFKA3_VERSION}, default ${DEFAULT_KAFKA_VERSION})`);
  }
  return options;
}

async function main(command: string | undefined, args: string[]): Promise<void> {
  switch (command) {
    case 'fetch':
      console.log(await fetchKafka(cliOptions(args)));
      return;
    case 'start': {
      const handle = await ensureKafka(cliOptions(args));
      console.log(handle.brokers);
      return;
    }
    case 'stop':
      console.log(`stopped ${await stopAll()} local Kafka node(s)`);
      return;
    case 'status': {
      const brokers = process.env.KAFKA_BROKERS ?? `127.0.0.1:${resolveOptions({}).port}`;
      const size = await clusterSize(brokers, 5_000);
      console.log(size ? `up ${brokers} (${size} broker${size === 1 ? '' : 's'})` : `down ${brokers}`);
      process.exitCode = size ? 0 : 1;
      return;
    }
    default:
      console.error(`usage: kafka-local start [--brokers 1|3] [--fresh] [--kafka-version 4.x|${KAFKA3_VERSION}] | stop | status | fetch [--kafka-version 4.x|${KAFKA3_VERSION}]`);
      process.exitCode = 2;
  }
}

if (isMain(import.meta.url)) {
  main(process.argv[2], process.argv.slice(3)).catch((error: unknown) => {
    console.error(`[kafka-local] ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
}
