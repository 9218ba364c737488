/**
 * Kafka Streams itself, for the differential tests: the jars (org.apache.kafka:kafka-streams, the broker's version)
 * fetched once per machine with Maven from test/fixtures/kafka-streams/pom.xml into
 * `<LIGHT_KAFKA_LOCAL_DIR or .kafka-local>/kafka-streams-libs` (git-ignored), and one case of
 * test/fixtures/kafka-streams/Topologies.java run as a child process that the harness drives over stdin/stdout.
 *
 * The program is compiled once into `<that folder>/classes-<hash of the source>` when a `javac` is on the PATH;
 * without one (a JRE only) it runs as a single-file source program, compiled in memory at each start (slower).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PACKAGE_ROOT } from '../../../core/package-root.js';
import { requireTool, runMaven, tailOf, tailOfFile } from '../../../scripts/local-process.js';
import { MavenDownloadProgress } from '../../../scripts/maven-progress.js';

export const KAFKA_STREAMS_POM = join(PACKAGE_ROOT, 'test', 'fixtures', 'kafka-streams', 'pom.xml');
export const TOPOLOGIES_JAVA = join(PACKAGE_ROOT, 'test', 'fixtures', 'kafka-streams', 'Topologies.java');

function cacheDir(): string {
  return join(process.env.LIGHT_KAFKA_LOCAL_DIR ?? join(PACKAGE_ROOT, '.kafka-local'), 'kafka-streams-libs');
}

/** The Kafka Streams version the pom fetches (its kafka.version property). */
export function kafkaStreamsVersion(): string {
  const version = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(KAFKA_STREAMS_POM, 'utf8'))?.[1];
  if (!version) throw new Error(`${KAFKA_STREAMS_POM} has no <kafka.version>`);
  return version;
}

function hasJars(libs: string): boolean {
  return existsSync(join(libs, `kafka-streams-${kafkaStreamsVersion()}.jar`));
}

/** Fetches the Kafka Streams jars with Maven unless they are there already; returns their folder. */
export async function fetchKafkaStreams(log: (line: string) => void = (line) => process.stderr.write(`[kafka-streams] ${line}\n`)): Promise<string> {
  const libs = cacheDir();
  if (hasJars(libs)) return libs;
  requireTool('java', ['-version'], 'Java 17 or newer is needed to run Kafka Streams for the differential tests (apt-get install openjdk-17-jre-headless)');
  requireTool('mvn', ['-v'], 'Maven is needed to fetch Kafka Streams from Maven Central (apt-get install maven)');
  // Into a folder of its own first, renamed when complete: a run that stops half-way leaves no partial folder behind.
  mkdirSync(join(libs, '..'), { recursive: true });
  const partial = mkdtempSync(`${libs}.partial-`);
  log(`fetching Kafka Streams ${kafkaStreamsVersion()} with Maven into ${libs} (once; about 80 MB with an empty ~/.m2, most of it RocksDB)`);
  const started = Date.now();
  const progress = new MavenDownloadProgress();
  let lastReport = started;
  const { status, output } = await runMaven(['-B', '-f', KAFKA_STREAMS_POM, 'dependency:copy-dependencies', `-DoutputDirectory=${partial}`], (line) => {
    if (progress.read(line) && Date.now() - lastReport >= 2000) {
      lastReport = Date.now();
      log(`  ${progress.describe()}`);
    }
  });
  const fetchLog = join(libs, '..', 'kafka-streams-fetch.log');
  writeFileSync(fetchLog, output);
  if (status !== 0 || !hasJars(partial)) {
    rmSync(partial, { recursive: true, force: true });
    throw new Error(`Maven could not fetch Kafka Streams (exit ${status}); see ${fetchLog}:\n${tailOf(output)}`);
  }
  if (hasJars(libs)) rmSync(partial, { recursive: true, force: true });
  else {
    rmSync(libs, { recursive: true, force: true });
    renameSync(partial, libs);
  }
  log(`Kafka Streams jars in place: ${readdirSync(libs).filter((file) => file.endsWith('.jar')).length} jars, ${progress.describe()} (the rest from ~/.m2), ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return libs;
}

/**
 * The classpath entry and main class to run Topologies: a folder of compiled classes (javac once per source
 * version), or the source file itself (Java's single-file launch) when no javac is available.
 */
function program(libs: string): { classpath: string[]; main: string[] } {
  const source = readFileSync(TOPOLOGIES_JAVA);
  const hash = createHash('sha256').update(source).update(kafkaStreamsVersion()).digest('hex').slice(0, 12);
  const classes = join(libs, `classes-${hash}`);
  if (existsSync(join(classes, 'Topologies.class'))) return { classpath: [classes], main: ['Topologies'] };
  if (spawnSync('javac', ['-version'], { encoding: 'utf8' }).status === 0) {
    const partial = mkdtempSync(`${classes}.partial-`);
    const compiled = spawnSync('javac', ['-nowarn', '-d', partial, '-cp', join(libs, '*'), TOPOLOGIES_JAVA], { encoding: 'utf8' });
    if (compiled.status !== 0) {
      rmSync(partial, { recursive: true, force: true });
      throw new Error(`javac ${TOPOLOGIES_JAVA} failed:\n${compiled.stdout}${compiled.stderr}`);
    }
    if (!existsSync(join(classes, 'Topologies.class'))) {
      rmSync(classes, { recursive: true, force: true });
      renameSync(partial, classes);
      // The classes of earlier versions of the source are not used any more.
      for (const entry of readdirSync(libs)) if (/^classes-[0-9a-f]+$/.test(entry) && join(libs, entry) !== classes) rmSync(join(libs, entry), { recursive: true, force: true });
    } else rmSync(partial, { recursive: true, force: true });
    return { classpath: [classes], main: ['Topologies'] };
  }
  return { classpath: [], main: [TOPOLOGIES_JAVA] };
}

export interface KafkaStreamsCaseOptions {
  /** The case of Topologies.java (its --case). */
  caseName: string;
  brokers: string;
  applicationId: string;
  /** Input topics by role (--topic role=topic). */
  topics: Record<string, string>;
  /** Output topics by label (--out label=topic). */
  outputs: Record<string, string>;
  /** Numbers the case's topology takes (--param name=value): window sizes, graces, ... */
  params: Record<string, number>;
  /** Where the state, the log4j file and the log go (the caller removes it). */
  workDir: string;
  /** The program gives up (exit 2) when it is not done by then. */
  timeoutMs: number;
}

/** A running Kafka Streams case: commands over stdin, answers on stdout. */
export class KafkaStreamsCase {
  private readonly child: ChildProcess;
  private readonly waiting: { line: string; resolve: () => void; reject: (error: Error) => void }[] = [];
  private stderr = '';
  private exited: Promise<number | null>;
  private exitCode: number | null | undefined;
  readonly log: string;

  private constructor(options: KafkaStreamsCaseOptions, libs: string) {
    this.log = join(options.workDir, 'kafka-streams.log');
    const log4j = join(options.workDir, 'log4j.properties');
    writeFileSync(
      log4j,
      [
        'log4j.rootLogger=INFO, file',
        'log4j.appender.file=org.apache.log4j.FileAppender',
        `log4j.appender.file.File=${this.log.replace(/\\/g, '/')}`,
        'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
        'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
        // The clients' configuration dumps and metadata chatter say nothing about the topology.
        'log4j.logger.org.apache.kafka.clients=WARN',
        'log4j.logger.org.apache.kafka.common=WARN',
        '',
      ].join('\n'),
    );
    const { classpath, main } = program(libs);
    const args = [
      '-Xms64m',
      '-Xmx256m',
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      `-Dlog4j.configuration=file:${log4j}`,
      '-cp',
      [...classpath, join(libs, '*')].join(':'),
      ...main,
      '--case', options.caseName,
      '--brokers', options.brokers,
      '--app-id', options.applicationId,
      '--state-dir', join(options.workDir, 'state'),
      '--timeout-ms', String(options.timeoutMs),
      ...Object.entries(options.topics).flatMap(([role, topic]) => ['--topic', `${role}=${topic}`]),
      ...Object.entries(options.outputs).flatMap(([label, topic]) => ['--out', `${label}=${topic}`]),
      ...Object.entries(options.params).flatMap(([name, value]) => ['--param', `${name}=${value}`]),
    ];
    this.child = spawn('java', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-20_000);
    });
    createInterface({ input: this.child.stdout!, crlfDelay: Infinity }).on('line', (line) => {
      const index = this.waiting.findIndex((waiter) => waiter.line === line.trim());
      if (index >= 0) this.waiting.splice(index, 1)[0]!.resolve();
    });
    this.exited = new Promise((resolve) => {
      this.child.once('error', (error) => {
        this.stderr += `\n${error.message}`;
        resolve(null);
      });
      this.child.once('exit', (code) => resolve(code));
    });
    void this.exited.then((code) => {
      this.exitCode = code;
      for (const waiter of this.waiting.splice(0)) waiter.reject(this.failure(`exited with ${code} before it answered "${waiter.line}"`));
    });
  }

  /** Starts the program (the jars fetched first if needed); `ready()` tells when its application is RUNNING. */
  static async launch(options: KafkaStreamsCaseOptions): Promise<KafkaStreamsCase> {
    const app = new KafkaStreamsCase(options, await fetchKafkaStreams());
    app.readiness = app.expect('ready');
    app.readiness.catch(() => undefined);
    return app;
  }

  private readiness: Promise<void> = Promise.resolve();

  /** Resolves once the application is RUNNING; rejects when the program exits first. */
  ready(): Promise<void> {
    return this.readiness;
  }

  private failure(what: string): Error {
    return new Error(`Kafka Streams (Topologies.java) ${what}\n--- stderr ---\n${tailOf(this.stderr, 40)}\n--- ${this.log} ---\n${tailOfFile(this.log, 40, '(no log)')}`);
  }

  private expect(line: string): Promise<void> {
    if (this.exitCode !== undefined) return Promise.reject(this.failure(`exited with ${this.exitCode} before it answered "${line}"`));
    return new Promise((resolve, reject) => this.waiting.push({ line, resolve, reject }));
  }

  private command(text: string, answer: string): Promise<void> {
    const answered = this.expect(answer);
    this.child.stdin!.write(`${text}\n`);
    return answered;
  }

  /** Returns once the application committed the end offsets (as of now) of its non-global input topics. */
  sync(): Promise<void> {
    return this.command('sync', 'synced');
  }

  /** Returns once the global store holds `key` (a sentinel written after a phase of a global table's topic). */
  syncGlobal(store: string, key: string): Promise<void> {
    return this.command(`sync-global ${store} ${key}`, 'synced');
  }

  /** Processes what is left, closes the application and waits for the program to exit (0). */
  async end(): Promise<void> {
    await this.command('end', 'done');
    const code = await this.exited;
    if (code !== 0) throw this.failure(`exited with ${code} after "done"`);
  }

  /** Stops the program whatever it is doing (cleanup after a failure). */
  async kill(): Promise<void> {
    if (this.exitCode !== undefined) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}
