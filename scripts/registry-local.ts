/**
 * A local Confluent-compatible schema registry for the tests and the demo: Apicurio Registry 2.4.2, built from
 * Maven Central with scripts/registry/pom.xml into .registry-local/ (about 40 s the first time, 230 MB of Maven
 * downloads), started on 127.0.0.1 with its schemas in memory. SCHEMA_REGISTRY_URL points at an existing
 * registry instead (then nothing is built or started).
 *
 *   node dist/scripts/registry-local.js start | stop | status | build
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PACKAGE_ROOT } from '../core/package-root.js';
import { isMain } from './is-main.js';

export const REGISTRY_POM = join(PACKAGE_ROOT, 'scripts', 'registry', 'pom.xml');
const RUNNER = 'apicurio-registry-local-2.4.2-runner.jar';

export interface LocalRegistryOptions {
  /** Default: LIGHT_KAFKA_REGISTRY_PORT or 58081. */
  port?: number;
  /** Default: LIGHT_KAFKA_REGISTRY_DIR or <package>/.registry-local. */
  dir?: string;
  log?: (line: string) => void;
}

export interface RegistryHandle {
  /** The Confluent-compatible base URL (for @kafkajs/confluent-schema-registry's `host`). */
  url: string;
  /** True when this call started the registry (stop() then stops it). */
  owned: boolean;
  stop(): Promise<void>;
}

function resolved(options: LocalRegistryOptions): { port: number; dir: string; log: (line: string) => void } {
  return {
    port: options.port ?? Number(process.env.LIGHT_KAFKA_REGISTRY_PORT ?? 58081),
    dir: options.dir ?? process.env.LIGHT_KAFKA_REGISTRY_DIR ?? join(PACKAGE_ROOT, '.registry-local'),
    log: options.log ?? ((line) => process.stderr.write(`[registry-local] ${line}\n`)),
  };
}

const baseUrl = (port: number): string => `http://127.0.0.1:${port}/apis/ccompat/v7`;

async function ready(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(1000) });
    return response.status === 200;
  } catch {
    return false;
  }
}

/** Builds the registry once (mvn package in <dir>/build); returns the runner jar's path. */
export function buildRegistry(options: LocalRegistryOptions = {}): string {
  const { dir, log } = resolved(options);
  const build = join(dir, 'build');
  const runner = join(build, 'target', RUNNER);
  if (existsSync(runner) && existsSync(join(build, 'target', 'lib'))) return runner;
  const mvn = spawnSync('mvn', ['-v'], { encoding: 'utf8' });
  if (mvn.status !== 0) throw new Error('Maven is needed to build the local schema registry from Maven Central (apt-get install maven), or set SCHEMA_REGISTRY_URL');
  mkdirSync(build, { recursive: true });
  copyFileSync(REGISTRY_POM, join(build, 'pom.xml'));
  log('building Apicurio Registry 2.4.2 from Maven Central (about 40 s and 230 MB the first time)');
  const result = spawnSync('mvn', ['-q', '-B', 'package', '-DskipTests'], { cwd: build, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.status !== 0 || !existsSync(runner)) {
    throw new Error(`building the schema registry failed (mvn exited ${result.status}):\n${(result.stdout + result.stderr).split('\n').slice(-30).join('\n')}`);
  }
  return runner;
}

/** A registry to use: SCHEMA_REGISTRY_URL, one already answering on the port, or a new one started here. */
export async function ensureRegistry(options: LocalRegistryOptions = {}): Promise<RegistryHandle> {
  const external = process.env.SCHEMA_REGISTRY_URL;
  if (external) return { url: external, owned: false, stop: async () => undefined };
  const { port, dir, log } = resolved(options);
  if (await ready(port)) {
    log(`reusing the registry already answering on 127.0.0.1:${port}`);
    return { url: baseUrl(port), owned: false, stop: async () => undefined };
  }
  const runner = buildRegistry(options);
  const logFile = join(dir, `registry-${port}.log`);
  const child = spawn(
    'java',
    ['-Xmx256m', '-Dquarkus.http.host=127.0.0.1', `-Dquarkus.http.port=${port}`, '-Dquarkus.log.category."io.apicurio".level=WARN', '-jar', runner],
    { detached: true, stdio: ['ignore', openSync(logFile, 'w'), openSync(logFile, 'a')] },
  );
  child.unref();
  writeFileSync(pidFile(dir, port), String(child.pid));
  const deadline = Date.now() + 60_000;
  while (!(await ready(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`the schema registry did not start on port ${port}; its log ${logFile}:\n${readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n')}`);
    }
    await sleep(200);
  }
  log(`started Apicurio Registry (pid ${child.pid}) at ${baseUrl(port)}`);
  return { url: baseUrl(port), owned: true, stop: () => stopRegistry({ port, dir }) };
}

function pidFile(dir: string, port: number): string {
  return join(dir, `registry-${port}.pid`);
}

export async function stopRegistry(options: LocalRegistryOptions = {}): Promise<void> {
  const { port, dir } = resolved(options);
  const file = pidFile(dir, port);
  if (!existsSync(file)) return;
  const pid = Number(readFileSync(file, 'utf8'));
  rmSync(file, { force: true });
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 50; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(100);
  }
  process.kill(pid, 'SIGKILL');
}

async function main(command: string | undefined): Promise<void> {
  if (command === 'build') console.log(buildRegistry());
  else if (command === 'start') console.log((await ensureRegistry()).url);
  else if (command === 'stop') await stopRegistry();
  else if (command === 'status') console.log((await ready(resolved({}).port)) ? `answering at ${baseUrl(resolved({}).port)}` : 'not running');
  else {
    console.error('usage: registry-local.js start | stop | status | build');
    process.exitCode = 2;
  }
}

if (isMain(import.meta.url)) await main(process.argv[2]);
