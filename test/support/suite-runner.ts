/**
 * The test suite as `npm test`, `npm run test:librdkafka` and `npm run test:faults` run it, in the least wall time
 * the tests allow on a 2-core machine without changing what they check:
 * - one single-node broker for the whole run (tests use topic and group names of their own), started before any
 *   test file instead of by the first test that needs it;
 * - the test files that use that broker or none run in parallel (mocha --parallel, LIGHT_KAFKA_TEST_JOBS workers,
 *   default 2): most of their time is waiting on the broker, a session timeout or a child process;
 * - the fault tests (test/faults, tagged @cluster) share one 3-broker cluster, started at once, and run one after
 *   another beside the other files (their output is printed after those; LIGHT_KAFKA_TEST_FAULTS_ALONE=1 runs them
 *   after the others instead, alone on the machine);
 * - the SkyWalking OAP (for the tests tagged @skywalking) starts once beside the broker, so the files that use it
 *   share one (each file starting and stopping its own would stop it under the other);
 * - Kafka Streams' jars (for the differential tests, tagged @kafka-streams) are fetched once before the files run, so
 *   that two files never fetch them into the same folder at once;
 * - at the end, the slowest ten test files (wall time, in their worker) so the next slow test is visible.
 *
 *   node dist/test/support/suite-runner.js [--broker-only] [--faults-only]
 *
 * --broker-only runs the tests tagged @broker or @cluster but not @skywalking (the librdkafka pass: the unit tests
 * and the SkyWalking tests — spans are made by the chain, whatever the client below it — do not depend on the transport); --faults-only runs test/faults only. Any other argument goes to every mocha run (`npm test -- --grep
 * security`; a --grep replaces the pass's own). A dry run lists the tests first: the broker starts only when a
 * chosen test is tagged @broker, the cluster only when a fault test is chosen.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { reasonOf } from '../../core/errors/light-error.js';
import { ensureKafka, fetchKafka, type KafkaHandle } from '../../scripts/kafka-local.js';
import { ensureSkyWalking, fetchSkyWalking } from '../../scripts/skywalking-local.js';
import { isMain } from '../../scripts/is-main.js';
import { CLUSTER_PORT_OFFSET } from './cluster.js';
import { fetchKafkaStreams } from './differential/kafka-streams-java.js';
import { slowestFiles, type FileTime } from './file-durations.js';

const TEST_ROOT = join(PACKAGE_ROOT, 'dist', 'test');
const FAULTS = join(TEST_ROOT, 'faults');

/** Every compiled test file under a folder, in name order. */
function testFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.test.js'))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

function mochaArgs(options: { parallel: boolean; grep: string[]; extra: string[] }): string[] {
  const jobs = process.env.LIGHT_KAFKA_TEST_JOBS ?? '2';
  return [
    join(PACKAGE_ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js'),
    '--no-config',
    '--timeout', '60000',
    '--slow', '5000',
    '--exit',
    ...(options.parallel ? ['--parallel', '--jobs', jobs] : []),
    ...options.grep,
    ...options.extra,
  ];
}

/**
 * Runs mocha with the suite's settings; resolves with its exit code. `captured`: its output is kept and handed back
 * instead of going to the terminal (a run beside another one prints when that one is done). The child is in
 * `children` while it runs (a signal to the runner stops it).
 */
function mocha(
  files: string[],
  options: { parallel: boolean; grep: string[]; env: NodeJS.ProcessEnv; extra: string[]; captured?: boolean },
  children: Set<ChildProcess>,
): Promise<{ code: number; output: string }> {
  const args = [...mochaArgs(options), '--require', join(TEST_ROOT, 'support', 'root-hooks.js'), ...files];
  const child = spawn(process.execPath, args, { stdio: options.captured ? ['ignore', 'pipe', 'pipe'] : 'inherit', env: options.env });
  children.add(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // 'close', not 'exit': the pipes are read to their end.
  return new Promise((resolve) =>
    child.once('close', (code, signal) => {
      children.delete(child);
      resolve({ code: code ?? (signal ? 1 : 0), output });
    }),
  );
}

/** The full titles of the tests a mocha run would run (a dry run: nothing is executed, no broker needed). */
async function plannedTests(files: string[], options: { grep: string[]; extra: string[] }): Promise<string[]> {
  if (files.length === 0) return [];
  const args = [...mochaArgs({ parallel: false, ...options }), '--dry-run', '--reporter', 'json', ...files];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LIGHT_KAFKA_UNIT: '1' } });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  try {
    return (JSON.parse(out) as { tests: { fullTitle: string }[] }).tests.map((test) => test.fullTitle);
  } catch {
    throw new Error(`listing the tests failed (mocha --dry-run exited ${code}):\n${out.slice(-2000)}`);
  }
}

export async function runSuite(argv: string[]): Promise<number> {
  const brokerOnly = argv.includes('--broker-only');
  const faultsOnly = argv.includes('--faults-only');
  // Everything else goes to mocha (npm test -- --grep security); a grep of the user's replaces the pass's own, and
  // test files named (dist/test/...js) replace the whole list.
  const rest = argv.filter((arg) => arg !== '--broker-only' && arg !== '--faults-only');
  const named = rest.filter((arg) => !arg.startsWith('-') && arg.endsWith('.js')).map((file) => resolve(file));
  const extra = rest.filter((arg) => !(!arg.startsWith('-') && arg.endsWith('.js')));
  const userGrep = extra.some((arg) => ['--grep', '-g', '--fgrep', '-f'].includes(arg) || arg.startsWith('--grep=') || arg.startsWith('--fgrep='));
  const started = Date.now();

  const files = named.length > 0 ? named : testFiles(TEST_ROOT);
  const mainFiles = faultsOnly ? [] : files.filter((file) => !file.startsWith(`${FAULTS}/`));
  const faultFiles = files.filter((file) => file.startsWith(`${FAULTS}/`));
  const mainGrep = userGrep || !brokerOnly ? [] : ['--grep', '^(?!.*@skywalking).*(@broker|@cluster)'];
  const faultGrep = userGrep ? [] : ['--grep', '@cluster'];
  const [mainTests, faultTests] = [await plannedTests(mainFiles, { grep: mainGrep, extra }), await plannedTests(faultFiles, { grep: faultGrep, extra })];
  const needsBroker = mainTests.some((title) => title.includes('@broker'));
  const needsSkyWalking = mainTests.some((title) => title.includes('@skywalking')) && !process.env.SKYWALKING_COLLECTOR;
  const needsKafkaStreams = mainTests.some((title) => title.includes('@kafka-streams'));

  const timings = mkdtempSync(join(tmpdir(), 'light-kafka-test-timings-'));
  const env: NodeJS.ProcessEnv = { ...process.env, LIGHT_KAFKA_TEST_TIMINGS: join(timings, 'files.jsonl') };
  const basePort = Number(process.env.LIGHT_KAFKA_LOCAL_PORT ?? 9092);
  const owned: Array<{ stop(): Promise<unknown> }> = [];
  const children = new Set<ChildProcess>();
  let interrupted = false;
  // Ctrl-C or a kill: the test runs stop, and the brokers this run started are stopped before the runner exits.
  const onSignal = (): void => {
    interrupted = true;
    for (const child of children) child.kill('SIGTERM');
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  let failed = 0;
  // The fault tests run beside the other files (most of whose time is waiting), unless asked to run after them.
  const faultsAlone = process.env.LIGHT_KAFKA_TEST_FAULTS_ALONE === '1';
  let cluster: Promise<KafkaHandle> | undefined;
  try {
    // The jars once, before two brokers could fetch them into the same folder at once.
    if ((needsBroker && !process.env.KAFKA_BROKERS) || faultTests.length > 0) await fetchKafka();
    if (needsSkyWalking) await fetchSkyWalking();
    if (needsKafkaStreams) await fetchKafkaStreams();
    // The fault tests' cluster starts now and comes up while the other files run.
    if (faultTests.length > 0) {
      cluster = ensureKafka({ port: basePort + CLUSTER_PORT_OFFSET, brokers: 3, fresh: true, useKafkaBrokersEnv: false }).then((handle) => {
        if (handle.owned) owned.push(handle);
        return handle;
      });
      cluster.catch(() => undefined);
    }
    const main = async (): Promise<number> => {
      if (mainTests.length === 0 || interrupted) return 0;
      const mainEnv = { ...env };
      // The OAP comes up while the broker does.
      const oap = needsSkyWalking ? ensureSkyWalking() : undefined;
      if (oap) {
        oap.catch(() => undefined);
        // Stopped at the end whatever happens meanwhile (a broker that fails to start included).
        owned.push({ stop: async () => (await oap.catch(() => undefined))?.stop() });
      }
      if (needsBroker) {
        // Started here: from empty log folders (a broker replaying the topics of earlier runs answers before it
        // hosts new ones: "This server does not host this topic-partition"). One already running is used as it is.
        const broker = await ensureKafka({ fresh: true });
        if (broker.owned) owned.push(broker);
        mainEnv.KAFKA_BROKERS = broker.brokers;
      }
      if (oap) {
        const handle = await oap;
        Object.assign(mainEnv, { SKYWALKING_COLLECTOR: handle.collectorAddress, SKYWALKING_GRAPHQL_URL: handle.graphqlUrl });
      }
      return (await mocha(mainFiles, { parallel: true, grep: mainGrep, env: mainEnv, extra }, children)).code;
    };
    const faults = async (captured: boolean): Promise<{ code: number; output: string }> => {
      if (!cluster) return { code: 0, output: '' };
      await cluster;
      if (interrupted) return { code: 1, output: '' };
      return mocha(faultFiles, { parallel: false, grep: faultGrep, env: { ...env }, extra, captured }, children);
    };
    if (faultsAlone || mainTests.length === 0) {
      failed += await main();
      failed += (await faults(false)).code;
    } else {
      if (cluster) console.log(`[test] the fault tests (${faultTests.length}, 3-broker cluster) run beside the others; their output follows theirs`);
      const [mainRun, faultRun] = await Promise.allSettled([main(), faults(true)]);
      if (faultRun.status === 'fulfilled') process.stdout.write(faultRun.value.output);
      for (const run of [mainRun, faultRun]) {
        if (run.status === 'rejected') console.error(`[test] ${reasonOf(run.reason)}`);
      }
      failed += (mainRun.status === 'fulfilled' ? mainRun.value : 1) + (faultRun.status === 'fulfilled' ? faultRun.value.code : 1);
    }
  } catch (error) {
    console.error(`[test] ${reasonOf(error)}`);
    failed += 1;
  } finally {
    for (const child of children) child.kill('SIGTERM');
    // A cluster still starting is waited for, so that it is stopped too.
    await cluster?.catch(() => undefined);
    if (!process.env.LIGHT_KAFKA_KEEP_BROKER) await Promise.allSettled(owned.map((handle) => handle.stop()));
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    const lines = slowestFiles(readTimings(join(timings, 'files.jsonl')), 10, PACKAGE_ROOT);
    rmSync(timings, { recursive: true, force: true });
    if (lines.length > 0) console.log(`\n${lines.join('\n')}`);
    console.log(`\ntest run: ${mainTests.length + faultTests.length} tests planned, ${((Date.now() - started) / 1000).toFixed(0)} s in all`);
  }
  if (interrupted) return 130;
  return failed === 0 ? 0 : 1;
}

function readTimings(file: string): FileTime[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as FileTime);
  } catch {
    return [];
  }
}

if (isMain(import.meta.url)) process.exitCode = await runSuite(process.argv.slice(2));
