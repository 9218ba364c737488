/**
 * A real Apache SkyWalking backend (OAP 10.1.0) on 127.0.0.1 for the tests and the demo: its jars come from Maven
 * Central through Maven into .skywalking-local/oap-libs (once: 262 jars, 132 MB; 1-4 minutes and about 150 MB of
 * downloads with an empty ~/.m2, seconds after), its configuration is scripts/skywalking/config (standalone, H2 in
 * memory: nothing is kept across a restart). Agents report to the gRPC port, traces are read back through GraphQL on
 * the REST port. Ready 5-20 s after the start, about 500 MB resident.
 *
 *   node dist/scripts/skywalking-local.js start | stop | status | fetch
 *
 * SKYWALKING_COLLECTOR and SKYWALKING_GRAPHQL_URL point everything at an existing OAP instead (then nothing is
 * fetched or started); an OAP already answering on the ports is reused.
 */
import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PACKAGE_ROOT } from '../core/package-root.js';
import { isMain } from './is-main.js';
import { isAlive, livePid, portOpen, requireTool, runMaven, tailOf, tailOfFile } from './local-process.js';
import { MavenDownloadProgress } from './maven-progress.js';

export const SKYWALKING_POM = join(PACKAGE_ROOT, 'scripts', 'skywalking', 'pom.xml');
export const SKYWALKING_CONFIG = join(PACKAGE_ROOT, 'scripts', 'skywalking', 'config');
const MAIN_CLASS = 'org.apache.skywalking.oap.server.starter.OAPServerStartUp';
const STARTER_JAR = 'server-starter-10.1.0.jar';
/** Written into oap-libs once Maven copied every jar: an interrupted fetch is not taken for a complete one. */
const COMPLETE_MARK = '.complete';

export interface LocalSkyWalkingOptions {
  /** The agents' gRPC port (SW_CORE_GRPC_PORT). Default: LIGHT_KAFKA_SKYWALKING_GRPC_PORT or 11800. */
  grpcPort?: number;
  /** The REST port, GraphQL at /graphql (SW_CORE_REST_PORT). Default: LIGHT_KAFKA_SKYWALKING_REST_PORT or 12800. */
  restPort?: number;
  /** Where the jars, the log and the pid file go. Default: LIGHT_KAFKA_SKYWALKING_DIR or <package>/.skywalking-local. */
  dir?: string;
  /** How long to wait for GraphQL to answer after the start (measured here: 5-20 s). Default 90 s. */
  readyTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface SkyWalkingHandle {
  /** host:port of the OAP's gRPC receiver, for an agent's collectorAddress. */
  collectorAddress: string;
  /** The OAP's GraphQL endpoint (the query API the SkyWalking UI uses). */
  graphqlUrl: string;
  /** True when this call started the OAP (stop() then stops it). */
  owned: boolean;
  stop(): Promise<void>;
}

interface Resolved {
  grpcPort: number;
  restPort: number;
  dir: string;
  readyTimeoutMs: number;
  log: (line: string) => void;
  libs: string;
  /** A single OAP on the default ports keeps the plain names; others get the gRPC port in theirs. */
  logFile: string;
  pidFile: string;
  fetchLog: string;
}

function resolved(options: LocalSkyWalkingOptions): Resolved {
  const grpcPort = options.grpcPort ?? Number(process.env.LIGHT_KAFKA_SKYWALKING_GRPC_PORT ?? 11800);
  const restPort = options.restPort ?? Number(process.env.LIGHT_KAFKA_SKYWALKING_REST_PORT ?? 12800);
  const dir = options.dir ?? process.env.LIGHT_KAFKA_SKYWALKING_DIR ?? join(PACKAGE_ROOT, '.skywalking-local');
  const suffix = grpcPort === 11800 && restPort === 12800 ? '' : `-${grpcPort}`;
  return {
    grpcPort,
    restPort,
    dir,
    readyTimeoutMs: options.readyTimeoutMs ?? 90_000,
    log: options.log ?? ((line) => process.stderr.write(`[skywalking-local] ${line}\n`)),
    libs: join(dir, 'oap-libs'),
    logFile: join(dir, `oap${suffix}.log`),
    pidFile: join(dir, `oap${suffix}.pid`),
    fetchLog: join(dir, 'fetch.log'),
  };
}

const graphqlUrlOf = (restPort: number): string => `http://127.0.0.1:${restPort}/graphql`;

/** The version an OAP's GraphQL answers to `{ version }` (e.g. 10.1.0-df4bb8f), or undefined when nothing does. */
export async function oapVersion(graphqlUrl: string, timeoutMs = 2000): Promise<string | undefined> {
  try {
    const response = await fetch(graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ version }' }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok) return undefined;
    const body = (await response.json()) as { data?: { version?: unknown } };
    return typeof body.data?.version === 'string' ? body.data.version : undefined;
  } catch {
    return undefined;
  }
}

/** Fetches the OAP's jars with Maven into <dir>/oap-libs unless they are there already; returns that folder. */
export async function fetchSkyWalking(options: LocalSkyWalkingOptions = {}): Promise<string> {
  const opts = resolved(options);
  if (hasJars(opts)) return opts.libs;
  requireTool('java', ['-version'], 'Java 17 or newer is needed to run the local SkyWalking OAP (apt-get install openjdk-17-jre-headless)');
  requireTool('mvn', ['-v'], 'Maven is needed to fetch the SkyWalking OAP jars from Maven Central (apt-get install maven)');
  mkdirSync(opts.dir, { recursive: true });
  copyFileSync(SKYWALKING_POM, join(opts.dir, 'pom.xml'));
  rmSync(opts.libs, { recursive: true, force: true });
  opts.log(`fetching Apache SkyWalking OAP 10.1.0 with Maven into ${opts.libs} (once; 1-4 minutes and about 150 MB of downloads with an empty ~/.m2)`);
  const started = Date.now();
  const progress = new MavenDownloadProgress();
  let lastReport = started;
  const { status, output } = await runMaven(
    ['-B', 'dependency:copy-dependencies', `-DoutputDirectory=${opts.libs}`, '-DincludeScope=runtime'],
    (line) => {
      // Not -q: the "Downloaded from" lines show progress, a line every 5 s while files arrive.
      if (progress.read(line) && Date.now() - lastReport >= 5000) {
        lastReport = Date.now();
        opts.log(`  ${progress.describe()}`);
      }
    },
    opts.dir,
  );
  writeFileSync(opts.fetchLog, output);
  if (status !== 0 || !existsSync(join(opts.libs, STARTER_JAR))) {
    throw new Error(`Maven could not fetch the SkyWalking OAP jars (mvn exited ${status}); its output is in ${opts.fetchLog}, which ends:\n${tailOf(output)}`);
  }
  writeFileSync(join(opts.libs, COMPLETE_MARK), `${new Date().toISOString()}\n`);
  const jars = readdirSync(opts.libs).filter((file) => file.endsWith('.jar')).length;
  opts.log(`SkyWalking OAP jars in place: ${jars} jars, ${progress.describe()} (the rest from ~/.m2), ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return opts.libs;
}

/**
 * An OAP to report to and query: the one SKYWALKING_COLLECTOR and SKYWALKING_GRAPHQL_URL name, one already answering
 * on the ports, or one started here (fetched first if needed).
 */
export async function ensureSkyWalking(options: LocalSkyWalkingOptions = {}): Promise<SkyWalkingHandle> {
  const external = externalOap();
  if (external) {
    if ((await oapVersion(external.graphqlUrl, 5000)) === undefined) {
      throw new Error(`SKYWALKING_GRAPHQL_URL=${external.graphqlUrl} does not answer the GraphQL query { version }`);
    }
    return { ...external, owned: false, stop: async () => undefined };
  }
  const opts = resolved(options);
  const collectorAddress = `127.0.0.1:${opts.grpcPort}`;
  const graphqlUrl = graphqlUrlOf(opts.restPort);
  const notOwned: SkyWalkingHandle = { collectorAddress, graphqlUrl, owned: false, stop: async () => undefined };

  const starting = readPid(opts);
  if (starting !== undefined && (await oapVersion(graphqlUrl)) === undefined) {
    // Started by an earlier call (a CLI start that was interrupted, a parallel test worker): wait for it.
    opts.log(`waiting for the OAP already starting (pid ${starting}) on ${collectorAddress}`);
    await waitUntilReady(opts, starting);
  }
  const version = await oapVersion(graphqlUrl);
  if (version !== undefined) {
    if (!(await portOpen(opts.grpcPort))) {
      throw new Error(`an OAP ${version} answers GraphQL on port ${opts.restPort} but nothing listens on its gRPC port ${opts.grpcPort}: set LIGHT_KAFKA_SKYWALKING_GRPC_PORT to the port it uses`);
    }
    opts.log(`reusing the OAP ${version} already answering at ${graphqlUrl} (collector ${collectorAddress})`);
    return notOwned;
  }
  for (const [port, name] of [
    [opts.grpcPort, 'LIGHT_KAFKA_SKYWALKING_GRPC_PORT'],
    [opts.restPort, 'LIGHT_KAFKA_SKYWALKING_REST_PORT'],
  ] as const) {
    if (await portOpen(port)) {
      throw new Error(`port ${port} is taken by something that is not a SkyWalking OAP (nothing answers GraphQL at ${graphqlUrl}); free it or set ${name}`);
    }
  }

  await fetchSkyWalking(options);
  // One start at a time on these ports: a second launcher (a CLI start beside a test run) waits for the first's OAP.
  if (!takeStartLock(opts)) {
    opts.log(`another launcher is starting an OAP on ${collectorAddress}; waiting for it`);
    await waitForOtherStart(opts);
    return notOwned;
  }
  let pid: number;
  try {
    pid = startOap(opts);
    try {
      await waitUntilReady(opts, pid);
    } catch (error) {
      await stopSkyWalking(options);
      throw error;
    }
  } finally {
    rmSync(startLockOf(opts), { force: true });
  }
  opts.log(`OAP ${await oapVersion(graphqlUrl)} ready (pid ${pid}): collector ${collectorAddress}, GraphQL ${graphqlUrl}, log ${opts.logFile}`);
  return { collectorAddress, graphqlUrl, owned: true, stop: () => stopSkyWalking(options).then(() => undefined) };
}

const startLockOf = (opts: Resolved): string => `${opts.pidFile}.starting`;

/** Creates the start lock (holding this process's pid); false when a live launcher holds it. A dead one's is taken over. */
function takeStartLock(opts: Resolved): boolean {
  const lock = startLockOf(opts);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      return true;
    } catch {
      if (livePid(lock) !== undefined) return false;
      rmSync(lock, { force: true });
    }
  }
  return false;
}

/** Waits until the launcher holding the start lock is done, then for its OAP to answer. */
async function waitForOtherStart(opts: Resolved): Promise<void> {
  const deadline = Date.now() + opts.readyTimeoutMs;
  while (livePid(startLockOf(opts)) !== undefined && (await oapVersion(graphqlUrlOf(opts.restPort), 1000)) === undefined) {
    if (Date.now() > deadline) throw new Error(`the OAP another launcher is starting did not answer GraphQL at ${graphqlUrlOf(opts.restPort)} within ${opts.readyTimeoutMs} ms`);
    await sleep(250);
  }
  if ((await oapVersion(graphqlUrlOf(opts.restPort), 5000)) === undefined) throw new Error(`the OAP another launcher started does not answer GraphQL at ${graphqlUrlOf(opts.restPort)}; see ${opts.logFile}`);
}

/** SKYWALKING_COLLECTOR + SKYWALKING_GRAPHQL_URL, both or neither. */
function externalOap(): { collectorAddress: string; graphqlUrl: string } | undefined {
  const collectorAddress = process.env.SKYWALKING_COLLECTOR;
  const graphqlUrl = process.env.SKYWALKING_GRAPHQL_URL;
  if (!collectorAddress && !graphqlUrl) return undefined;
  if (!collectorAddress || !graphqlUrl) {
    throw new Error('an existing OAP needs both SKYWALKING_COLLECTOR (host:port of its gRPC receiver) and SKYWALKING_GRAPHQL_URL (http://host:port/graphql)');
  }
  return { collectorAddress, graphqlUrl };
}

function startOap(opts: Resolved): number {
  const out = openSync(opts.logFile, 'w');
  const child = spawn('java', ['-Xmx512m', '-cp', [SKYWALKING_CONFIG, join(opts.libs, '*')].join(delimiter), MAIN_CLASS], {
    cwd: opts.dir,
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, SW_CORE_GRPC_PORT: String(opts.grpcPort), SW_CORE_REST_PORT: String(opts.restPort) },
  });
  closeSync(out);
  child.unref();
  if (child.pid === undefined) throw new Error("could not start 'java' for the SkyWalking OAP (is Java 17 or newer installed?)");
  writeFileSync(opts.pidFile, String(child.pid));
  opts.log(`starting SkyWalking OAP 10.1.0 (pid ${child.pid}) on 127.0.0.1:${opts.grpcPort} (gRPC) and :${opts.restPort} (GraphQL)`);
  return child.pid;
}

/** Ready: GraphQL answers `{ version }` (the OAP opens its servers once every module has started). */
async function waitUntilReady(opts: Resolved, pid: number): Promise<void> {
  const deadline = Date.now() + opts.readyTimeoutMs;
  while ((await oapVersion(graphqlUrlOf(opts.restPort), 1000)) === undefined) {
    if (!isAlive(pid)) throw new Error(`the SkyWalking OAP (pid ${pid}) exited during its start; ${opts.logFile} ends:\n${tailOfFile(opts.logFile, 30, '(no log)')}`);
    if (Date.now() > deadline) {
      throw new Error(`the SkyWalking OAP (pid ${pid}) did not answer GraphQL at ${graphqlUrlOf(opts.restPort)} within ${opts.readyTimeoutMs} ms; ${opts.logFile} ends:\n${tailOfFile(opts.logFile, 30, '(no log)')}`);
    }
    await sleep(250);
  }
}

/** Stops the OAP this script started on the ports (SIGTERM, SIGKILL after 20 s); false when there was none. */
export async function stopSkyWalking(options: LocalSkyWalkingOptions = {}): Promise<boolean> {
  const opts = resolved(options);
  const pid = readPid(opts);
  rmSync(opts.pidFile, { force: true });
  if (pid === undefined) return false;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false;
  }
  const deadline = Date.now() + 20_000;
  while (isAlive(pid) && Date.now() < deadline) await sleep(200);
  if (isAlive(pid)) {
    opts.log(`the OAP (pid ${pid}) did not stop within 20 s of SIGTERM: SIGKILL`);
    process.kill(pid, 'SIGKILL');
    while (isAlive(pid)) await sleep(50);
  }
  return true;
}

/** The pid of an OAP this script started that is still alive. */
function readPid(opts: Resolved): number | undefined {
  return livePid(opts.pidFile);
}

function hasJars(opts: Resolved): boolean {
  return existsSync(join(opts.libs, COMPLETE_MARK)) && existsSync(join(opts.libs, STARTER_JAR));
}

async function main(command: string | undefined): Promise<void> {
  switch (command) {
    case 'fetch':
      console.log(await fetchSkyWalking());
      return;
    case 'start': {
      const handle = await ensureSkyWalking();
      console.log(`collector ${handle.collectorAddress}`);
      console.log(`graphql ${handle.graphqlUrl}`);
      return;
    }
    case 'stop':
      console.log((await stopSkyWalking()) ? 'stopped the local SkyWalking OAP' : 'no local SkyWalking OAP was running');
      return;
    case 'status': {
      const graphqlUrl = process.env.SKYWALKING_GRAPHQL_URL ?? graphqlUrlOf(resolved({}).restPort);
      const version = await oapVersion(graphqlUrl);
      console.log(version ? `up ${graphqlUrl} (OAP ${version})` : `down ${graphqlUrl}`);
      process.exitCode = version ? 0 : 1;
      return;
    }
    default:
      console.error('usage: skywalking-local start | stop | status | fetch');
      process.exitCode = 2;
  }
}

if (isMain(import.meta.url)) {
  main(process.argv[2]).catch((error: unknown) => {
    console.error(`[skywalking-local] ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
}
