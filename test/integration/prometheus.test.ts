import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { LightService } from '../../index.js';
import { countTopology } from '../fixtures/streams/count-topology.js';
import { configDir, consumerYml, producerYml, serviceYml } from '../support/config-dir.js';
import { createTopics, uniqueName, waitFor } from '../support/kafka.js';
import { DASHBOARDS, JOB, freePort, promtool, shippedConfig, startPrometheus, type PrometheusHandle, type PrometheusYml } from '../support/prometheus.js';

interface Dashboard {
  templating: { list: { name: string; query?: string }[] };
  panels: { id: number; title: string; targets: { refId: string; expr: string }[] }[];
}

const SERVICE_ID = 'prom-svc';

/**
 * Grafana's variables as Grafana fills them for a user who picked this service and one topic:
 * - $serviceId and $topic: one value each, in the `=~` matchers the dashboard writes (the test service's id, the topic
 *   it produced to, consumed from and dead-lettered); the values need no regex escaping.
 * - $__rate_interval: 1m, what Grafana makes of it with a Prometheus data source's default 15 s scrape interval:
 *   max($__interval + 15s, 4 x 15s) = 1m for the dashboard's 1 h range. Everything the test does happened in the last
 *   minute, so the rates are over the service's activity, not only over idle samples.
 * - $__interval 15s and $__range 1h (the dashboard's range), should an expression use them.
 * Anything else left with a `$` fails the test (a new variable must get its value here).
 */
function substitute(expr: string, topic: string): string {
  const values: Record<string, string> = { serviceId: SERVICE_ID, topic, __rate_interval: '1m', __interval: '15s', __range: '1h' };
  return expr.replace(/\$\{?(\w+)\}?/g, (whole, name: string) => values[name] ?? whole);
}

/** `label_values(selector, label)` (a Grafana variable query) as PromQL whose series carry the label's values. */
function labelValuesQuery(query: string): { expr: string; label: string } {
  const match = /^label_values\((.+),\s*(\w+)\)$/.exec(query.trim());
  if (!match) throw new Error(`not a label_values query: ${query}`);
  return { expr: `count by (${match[2]}) (${match[1]})`, label: match[2]! };
}

/**
 * Panels of a feature the scenario does not use: their expressions must parse and run, but may find no series (the
 * metric exists only when the feature is on). Each names the feature.
 */
const SERIES_ONLY_WITH: { metric: string; feature: string }[] = [{ metric: 'light_kafka_streams_standby_lag_records', feature: 'num.standby.replicas > 0 (standby replicas)' }];

describe('the dashboard and the alerts on a real Prometheus @broker @prometheus', function () {
  this.timeout(120_000);
  let prometheus: PrometheusHandle | undefined;
  const folders: string[] = [];
  const services: LightService[] = [];
  after(async () => {
    for (const service of services) await service.stop().catch(() => undefined);
    await prometheus?.stop();
    for (const folder of folders) rmSync(folder, { recursive: true, force: true });
  });

  it('scrapes a service that produced, consumed, dead-lettered and restored a store; every dashboard expression returns series', async () => {
    const topic = uniqueName('prom-orders');
    const countsIn = uniqueName('prom-counts-in');
    const countsOut = uniqueName('prom-counts-out');
    await createTopics([topic, `${topic}.dlq`, countsIn, countsOut]);
    const metricsPort = await freePort();
    const starting = startPrometheus({ target: `127.0.0.1:${metricsPort}` });
    starting.catch(() => undefined);
    const stateDir = mkdtempSync(join(tmpdir(), 'light-kafka-prom-state-'));
    folders.push(stateDir);
    const dir = configDir({
      'service.yml': serviceYml(SERVICE_ID, 'stopTimeoutMs: 10000\n'),
      // No retries: the bad record goes to the dead-letter topic at once.
      'kafka-consumer.yml': consumerYml(uniqueName('prom'), '', 0),
      'kafka-producer.yml': producerYml(),
      'kafka-streams.yml': `properties:
  bootstrap.servers: \${kafka.brokers}
  application.id: ${uniqueName('prom-counts')}
  processing.guarantee: exactly_once
  state.dir: ${stateDir}
  commit.interval.ms: 100
  consumer.session.timeout.ms: 10000
  consumer.heartbeat.interval.ms: 1000
`,
      'handler.yml': `handlers: [correlation, metrics, kafka/producer@producer]
defaultHandlers:
  produce: [correlation, metrics, producer]
  consume: [correlation, metrics]
`,
      // Its /metrics on a port fixed for the test: the restarted service is scraped at the same target.
      'metrics.yml': `server:\n  enabled: true\n  port: ${metricsPort}\n`,
    });
    folders.push(dir);
    const counted = (service: LightService): number =>
      service.streams.store<number>('counts').all().reduce((sum, { value }) => sum + value, 0);

    // 1. The streams count 10 records of 5 keys into store `counts` (and its changelog), then the service stops.
    const first = await LightService.create({ configDir: dir });
    services.push(first);
    countTopology(first, countsIn, countsOut);
    await first.start();
    await first.producer.send(countsIn, Array.from({ length: 10 }, (_, i) => ({ key: `k${i % 5}`, value: { n: i } })));
    await waitFor(() => counted(first) === 10, 60_000, 'ten records counted');
    await first.stop();
    services.pop();

    // 2. Local state wiped: the same service starts again and restores the store from its changelog, then produces
    //    to and consumes from `topic` in two rounds with a scrape between them (a series is created by its first
    //    record, so a rate sees records after the scrape that first saw the series), where one bad record of the
    //    second round is dead-lettered.
    rmSync(stateDir, { recursive: true, force: true });
    prometheus = await starting;
    const service = await LightService.create({ configDir: dir });
    services.push(service);
    countTopology(service, countsIn, countsOut);
    let finished = 0;
    let deadLettered = 0;
    service.consumer.handle(topic, (exchange) => {
      if ((exchange.value as { bad?: boolean }).bad) throw new Error('a bad record, on purpose');
    });
    service.consumer.on('record', () => void (finished += 1));
    service.consumer.on('deadLettered', () => void (deadLettered += 1));
    await service.start();
    await waitFor(() => service.streams.store<number>('counts').all().length === 5, 60_000, 'the store restored from its changelog');
    expect(counted(service)).to.equal(10);
    const restored = (await service.metricsRegistry.getSingleMetric('light_kafka_streams_restored_records_total')?.get())?.values ?? [];
    expect(restored.reduce((sum, { value }) => sum + value, 0), 'changelog records restored').to.be.at.least(5);
    await service.producer.send(topic, Array.from({ length: 3 }, (_, i) => ({ key: `o${i}`, value: { n: i } })));
    await waitFor(() => finished === 3, 60_000, 'three records consumed');
    await prometheus.waitForScrape({ after: Date.now(), scrapes: 1 });
    await service.producer.send(topic, [...Array.from({ length: 2 }, (_, i) => ({ key: `o${3 + i}`, value: { n: 3 + i } })), { key: 'bad', value: { bad: true } }]);
    await waitFor(() => finished === 6 && deadLettered === 1, 60_000, 'six records consumed, one of them dead-lettered');

    // 3. Two scrapes after all that, every target of every panel (and each variable query) parses and returns series.
    await prometheus.waitForScrape({ after: Date.now(), scrapes: 2 });
    const dashboard = JSON.parse(readFileSync(join(DASHBOARDS, 'light-kafka.json'), 'utf8')) as Dashboard;
    const problems: string[] = [];
    let evaluated = 0;
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) {
        const expr = substitute(target.expr, topic);
        const where = `panel ${panel.id} "${panel.title}" [${target.refId}]: ${expr}`;
        evaluated += 1;
        if (expr.includes('$')) {
          problems.push(`${where}: a variable the test does not fill`);
          continue;
        }
        const answer = await prometheus.query(expr);
        const optional = SERIES_ONLY_WITH.some(({ metric }) => expr.includes(metric));
        if (answer.status !== 'success') problems.push(`${where}: ${answer.errorType} ${answer.error}`);
        else if (answer.data!.result.length === 0) {
          if (!optional) problems.push(`${where}: no series`);
        } else if (!answer.data!.result.some(({ value }) => Number.isFinite(Number(value[1])))) problems.push(`${where}: only NaN or infinite values ${JSON.stringify(answer.data!.result)}`);
      }
    }
    for (const variable of dashboard.templating.list.filter((candidate) => candidate.query?.startsWith('label_values('))) {
      const { expr, label } = labelValuesQuery(substitute(variable.query!, topic));
      const answer = await prometheus.query(expr);
      const values = (answer.data?.result ?? []).map(({ metric }) => metric[label]);
      const wanted = variable.name === 'topic' ? topic : SERVICE_ID;
      if (answer.status !== 'success' || !values.includes(wanted)) problems.push(`variable ${variable.name}: ${expr} gives ${JSON.stringify(values)} (${answer.error ?? 'no error'}), not ${wanted}`);
    }
    expect(problems, `dashboard expressions that fail on a real Prometheus:\n${problems.join('\n')}`).to.deep.equal([]);
    expect(evaluated).to.be.at.least(10);
  });

  it('runs dashboards/prometheus.yml with only the target and the intervals replaced', async () => {
    expect(prometheus, 'the Prometheus of the test before').to.not.equal(undefined);
    const answer = await prometheus!.api<{ yaml: string }>('/api/v1/status/config');
    const running = parse(answer.data!.yaml) as PrometheusYml;
    const shipped = shippedConfig();
    const shippedJob = shipped.scrape_configs.find((job) => job.job_name === JOB)!;
    const runningJob = running.scrape_configs.find((job) => job.job_name === JOB)!;
    expect(running.scrape_configs.map((job) => job.job_name)).to.deep.equal(shipped.scrape_configs.map((job) => job.job_name));
    for (const [key, value] of Object.entries(shippedJob)) {
      if (key === 'scrape_interval') expect(runningJob[key]).to.equal('1s');
      else if (key === 'static_configs') {
        expect(runningJob.static_configs!.map((group) => group.labels)).to.deep.equal(shippedJob.static_configs!.map((group) => group.labels));
        for (const group of runningJob.static_configs!) expect(group.targets).to.have.length(1).and.to.match(/^127\.0\.0\.1:\d+$/);
      } else expect(runningJob[key], `scrape job ${JOB}: ${key}`).to.deep.equal(value);
    }
    expect(running.rule_files).to.deep.equal((shipped.rule_files ?? []).map((file) => join(DASHBOARDS, file)));
    expect(running.global?.evaluation_interval).to.equal('1s');
  });

  it('loads and evaluates dashboards/alerts.yml on the service: every rule healthy, its metrics there, the dead letter alert active', async () => {
    expect(prometheus, 'the Prometheus of the first test').to.not.equal(undefined);
    const rulesFile = parse(readFileSync(join(DASHBOARDS, 'alerts.yml'), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
    const names = rulesFile.groups.flatMap((group) => group.rules.map((rule) => rule.alert));
    const evaluatedAfter = Date.now();
    type Rule = { name: string; health: string; lastError?: string; lastEvaluation: string };
    let rules: Rule[] = [];
    await waitFor(async () => {
      const answer = await prometheus!.api<{ groups: { rules: Rule[] }[] }>('/api/v1/rules?type=alert');
      rules = answer.data?.groups.flatMap((group) => group.rules) ?? [];
      return rules.length === names.length && rules.every((rule) => Date.parse(rule.lastEvaluation) > evaluatedAfter);
    }, 20_000, 'every alerting rule evaluated');
    expect(rules.map((rule) => `${rule.name}: ${rule.health} ${rule.lastError ?? ''}`.trim())).to.deep.equal(names.map((name) => `${name}: ok`));
    // Every metric a rule reads is one the service exports: a misspelt name would make its rule silently never fire.
    const metrics = new Set(rulesFile.groups.flatMap((group) => group.rules.flatMap((rule) => [...rule.expr.matchAll(/light_kafka_[a-z_]+/g)].map(([name]) => name))));
    for (const metric of metrics) {
      const answer = await prometheus!.query(`count(${metric}{serviceId="${SERVICE_ID}"})`);
      expect(answer.data?.result, `series of ${metric}`).to.have.length(1);
    }
    // The service dead-lettered a record a moment ago (the first of its code: a new counter series): that alert is
    // active (pending, or firing once its `for` passed on a slow run); nothing else fires (a lag that rose for one
    // scrape may make the lag alert pending, never firing within its 15 minutes).
    const alerts = await prometheus!.api<{ alerts: { labels: Record<string, string>; state: string }[] }>('/api/v1/alerts');
    const active = (alerts.data?.alerts ?? []).map(({ labels, state }) => `${labels.alertname} ${labels.code ?? ''} ${state}`);
    expect(active.filter((alert) => /^LightKafkaDeadLetters ERR10010 (pending|firing)$/.test(alert)), active.join(', ')).to.have.length(1);
    expect(active.filter((alert) => !alert.startsWith('LightKafkaDeadLetters ') && alert.endsWith(' firing')), active.join(', ')).to.deep.equal([]);
  });
});

describe('the alerting rules (promtool) @prometheus', () => {
  it('dashboards/alerts.yml passes promtool check rules', () => {
    const { code, output } = promtool(['check', 'rules', 'alerts.yml']);
    expect(code, output).to.equal(0);
    expect(output).to.include('SUCCESS');
  });

  it('dashboards/alerts.test.yml: every alert fires where it should and stays silent where it should not', () => {
    const { code, output } = promtool(['test', 'rules', 'alerts.test.yml']);
    expect(code, output).to.equal(0);
    expect(output).to.include('SUCCESS');
  });

  it('dashboards/prometheus.yml passes promtool check config (with its rule files)', () => {
    const { code, output } = promtool(['check', 'config', 'prometheus.yml']);
    expect(code, output).to.equal(0);
  });
});
