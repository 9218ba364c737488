import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse, stringify } from 'yaml';
import { PACKAGE_ROOT } from '../../core/package-root.js';

/**
 * A real Prometheus for tests (tagged `@prometheus`: `npm run test:unit` leaves them out), from Debian's `prometheus`
 * package (`apt-get install prometheus`: /usr/bin/prometheus and /usr/bin/promtool; .ci/run installs it). It runs on a
 * free loopback port with a TSDB in a temporary folder, on dashboards/prometheus.yml as the package ships it with two
 * things replaced: the light-kafka job's targets (the service under test's metrics port) and the intervals (1 s scrape
 * and rule evaluation instead of 15 s and 1 m, so a test waits seconds; see testConfig). The job name, metrics path and
 * target labels stay as they are, and so do the rule files (alerts.yml), only made absolute: the config is written
 * to the temporary folder, and a relative rule_files path is read from the config file's folder.
 */

export const DASHBOARDS = join(PACKAGE_ROOT, 'dashboards');
export const PROMETHEUS_YML = join(DASHBOARDS, 'prometheus.yml');
/** The scrape job of dashboards/prometheus.yml that the dashboard and the alerts are written for. */
export const JOB = 'light-kafka';

/** The path of `prometheus` or `promtool` on PATH, or an error that says how to install it. */
export function prometheusBinary(name: 'prometheus' | 'promtool'): string {
  for (const folder of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const path = join(folder, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not in this folder
    }
  }
  throw new Error(`${name} is not installed (not on PATH): apt-get install prometheus (Debian's package has prometheus and promtool; .ci/run installs it)`);
}

/** Runs promtool with the arguments in dashboards/; its exit code and output (stdout and stderr). */
export function promtool(args: string[]): { code: number; output: string } {
  const result = spawnSync(prometheusBinary('promtool'), args, { cwd: DASHBOARDS, encoding: 'utf8', timeout: 60_000 });
  if (result.error) throw result.error;
  return { code: result.status ?? 1, output: `${result.stdout}${result.stderr}` };
}

/** A TCP port free on 127.0.0.1 now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await new Promise((resolve, reject) => server.once('listening', resolve).once('error', reject));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface ScrapeJob {
  job_name: string;
  scrape_interval?: string;
  static_configs?: { targets: string[]; labels?: Record<string, string> }[];
  [key: string]: unknown;
}

export interface PrometheusYml {
  global?: Record<string, unknown>;
  rule_files?: string[];
  scrape_configs: ScrapeJob[];
  [key: string]: unknown;
}

/** dashboards/prometheus.yml as the package ships it. */
export function shippedConfig(): PrometheusYml {
  return parse(readFileSync(PROMETHEUS_YML, 'utf8')) as PrometheusYml;
}

/**
 * dashboards/prometheus.yml for a test: the light-kafka job scrapes `target` every `intervalSeconds` (the shipped
 * 15 s would make a test wait a minute for the handful of samples a rate needs), rules are evaluated as often
 * (global evaluation_interval; the default 1 m would leave them unevaluated), rule files are made absolute. Nothing
 * else changes.
 */
export function testConfig(target: string, intervalSeconds: number): PrometheusYml {
  const config = shippedConfig();
  const job = config.scrape_configs.find((candidate) => candidate.job_name === JOB);
  if (!job) throw new Error(`${PROMETHEUS_YML} has no scrape job ${JOB}`);
  if (!job.static_configs?.length) throw new Error(`${PROMETHEUS_YML}: job ${JOB} has no static_configs`);
  job.scrape_interval = `${intervalSeconds}s`;
  for (const group of job.static_configs) group.targets = [target];
  config.global = { ...config.global, evaluation_interval: `${intervalSeconds}s` };
  if (config.rule_files) config.rule_files = config.rule_files.map((file) => (isAbsolute(file) ? file : join(DASHBOARDS, file)));
  return config;
}

/** An answer of Prometheus's HTTP API (/api/v1/...). */
export interface ApiAnswer<T> {
  status: 'success' | 'error';
  data?: T;
  errorType?: string;
  error?: string;
}

export interface InstantSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusHandle {
  /** http://127.0.0.1:port */
  readonly url: string;
  /** The configuration it runs (written to its temporary folder). */
  readonly config: PrometheusYml;
  /** GET on the HTTP API (path with its query string); the answer, whatever its status. */
  api<T>(path: string): Promise<ApiAnswer<T>>;
  /** An instant query (/api/v1/query) at the current time; the answer, whatever its status (parse errors included). */
  query(expr: string): Promise<ApiAnswer<{ resultType: string; result: InstantSample[] }>>;
  /** Resolves once `scrapes` scrapes of the light-kafka job that started after `after` (ms) succeeded. */
  waitForScrape(options?: { after?: number; scrapes?: number; timeoutMs?: number }): Promise<void>;
  /** SIGTERM, then SIGKILL after 5 s; removes the temporary folder. */
  stop(): Promise<void>;
}

interface ActiveTarget {
  labels: Record<string, string>;
  health: string;
  lastError: string;
  lastScrape: string;
}

/** Starts Prometheus on a free loopback port scraping `target` (host:port) and waits until it is ready (/-/ready). */
export async function startPrometheus(options: { target: string; intervalSeconds?: number; readyTimeoutMs?: number }): Promise<PrometheusHandle> {
  const binary = prometheusBinary('prometheus');
  const intervalSeconds = options.intervalSeconds ?? 1;
  const config = testConfig(options.target, intervalSeconds);
  const folder = mkdtempSync(join(tmpdir(), 'light-kafka-prometheus-'));
  const configFile = join(folder, 'prometheus.yml');
  writeFileSync(configFile, stringify(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    binary,
    [`--config.file=${configFile}`, `--storage.tsdb.path=${join(folder, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
  let exited: string | undefined;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = `exited (${signal ?? code})`;
      resolve();
    }),
  );
  // Never left behind by a test process that ends without stopping it.
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const stop = async (): Promise<void> => {
    process.off('exit', killOnExit);
    if (exited === undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(timer);
    }
    rmSync(folder, { recursive: true, force: true });
  };

  const api = async <T>(path: string): Promise<ApiAnswer<T>> => {
    const response = await fetch(`${url}${path}`);
    const text = await response.text();
    try {
      return JSON.parse(text) as ApiAnswer<T>;
    } catch {
      return { status: 'error', errorType: `http ${response.status}`, error: text };
    }
  };

  try {
    const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
    for (;;) {
      if (exited !== undefined) throw new Error(`prometheus ${exited} before it was ready:\n${log}`);
      const ready = await fetch(`${url}/-/ready`).then((response) => response.ok, () => false);
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`prometheus not ready on ${url} within ${options.readyTimeoutMs ?? 30_000} ms:\n${log}`);
      await sleep(100);
    }
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    url,
    config,
    api,
    query: (expr) => api(`/api/v1/query?query=${encodeURIComponent(expr)}`),
    async waitForScrape({ after = Date.now(), scrapes = 2, timeoutMs = 30_000 } = {}) {
      const seen = new Set<string>();
      let last: ActiveTarget | undefined;
      const deadline = Date.now() + timeoutMs;
      while (seen.size < scrapes) {
        if (exited !== undefined) throw new Error(`prometheus ${exited}:\n${log}`);
        if (Date.now() > deadline) {
          throw new Error(`${seen.size} of ${scrapes} scrapes of job ${JOB} after ${new Date(after).toISOString()} within ${timeoutMs} ms; target: ${JSON.stringify(last)}`);
        }
        const answer = await api<{ activeTargets: ActiveTarget[] }>('/api/v1/targets?state=active');
        last = answer.data?.activeTargets.find((target) => target.labels.job === JOB);
        if (last && last.health === 'up' && Date.parse(last.lastScrape) > after) seen.add(last.lastScrape);
        await sleep(200);
      }
    },
    stop,
  };
}
