import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { registerStreamsMetrics } from '../../core/streams/light-streams.js';
import { registerStandbyMetrics } from '../../core/streams/standby.js';
import { LightService } from '../../index.js';
import { configDir, consumerYml, producerYml, serviceYml } from '../support/config-dir.js';

interface Panel {
  title: string;
  targets: { expr: string }[];
}

/** Every metric and label the Grafana dashboard and the alerting rules query is one the service exports. */
describe('the Grafana dashboard and the alerting rules', () => {
  it('queries only metrics the service exports, by labels those metrics have', async () => {
    const exported = await exportedMetrics();
    const dashboard = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'dashboards', 'light-kafka.json'), 'utf8')) as { panels: Panel[] };
    let queries = 0;
    for (const panel of dashboard.panels) {
      for (const { expr } of panel.targets) {
        queries += 1;
        checkExpr(exported, panel.title, expr);
      }
    }
    expect(queries).to.be.at.least(8);
  });

  // test/integration/prometheus.test.ts evaluates them on a real Prometheus; this needs no binary.
  it('alerts.yml reads only metrics the service exports, by labels those metrics (or their scrape target) have', async () => {
    const exported = await exportedMetrics();
    const rules = parse(readFileSync(join(PACKAGE_ROOT, 'dashboards', 'alerts.yml'), 'utf8')) as { groups: { rules: { alert: string; expr: string; for?: string; labels?: { severity?: string }; annotations?: { summary?: string; description?: string } }[] }[] };
    const all = rules.groups.flatMap((group) => group.rules);
    expect(all.map((rule) => rule.alert)).to.have.length.at.least(5);
    for (const rule of all) {
      checkExpr(exported, rule.alert, rule.expr);
      expect(rule.for, `${rule.alert}: for`).to.be.a('string');
      expect(rule.labels?.severity, `${rule.alert}: severity`).to.be.oneOf(['warning', 'critical']);
      expect(rule.annotations?.summary, `${rule.alert}: summary`).to.be.a('string');
      expect(rule.annotations?.description, `${rule.alert}: description`).to.be.a('string');
    }
  });
});

type Exported = Map<string, { type: string; labels: Set<string> }>;

/** Labels Prometheus adds to every series it scrapes (job and instance), and histograms' `le`. */
const TARGET_LABELS = new Set(['job', 'instance', 'le']);

/** Every light_kafka_ metric of an expression is exported, and every label it groups, matches or selects by is one of its. */
function checkExpr(exported: Exported, where: string, expr: string): void {
  const names = [...expr.matchAll(/light_kafka_[a-z_]+/g)].map(([name]) => name!.replace(/_(bucket|sum|count)$/, ''));
  expect(names, where).to.not.be.empty;
  for (const name of names) {
    expect(exported.has(name), `${where}: ${name} is not exported (exported: ${[...exported.keys()].join(', ')})`).to.equal(true);
    const labels = [...expr.matchAll(/\b(?:by|on) \(([^)]*)\)/g)].flatMap(([, list]) => list!.split(',').map((label) => label.trim())).filter((label) => !TARGET_LABELS.has(label));
    const selectors = [...expr.matchAll(/([A-Za-z_]+)(?:=~|!~|!=|=)"/g)].map(([, label]) => label!);
    for (const label of [...labels, ...selectors]) expect(exported.get(name)!.labels.has(label), `${where}: ${name} has no label ${label}`).to.equal(true);
  }
}

/** The metrics a service with the metrics handler and LightStreams registers: name -> type and label names. */
async function exportedMetrics(): Promise<Exported> {
  const service = await LightService.create({
    configDir: configDir({
      'service.yml': serviceYml('dashboard-check'),
      'kafka-consumer.yml': consumerYml('dashboard-check'),
      'kafka-producer.yml': producerYml(),
      'handler.yml': 'handlers: [metrics, kafka/producer@producer]\ndefaultHandlers:\n  produce: [metrics, producer]\n  consume: [metrics]\n',
      'metrics.yml': 'enabled: true\n',
    }),
    env: { ...process.env, KAFKA_BROKERS: '127.0.0.1:1' },
  });
  registerStreamsMetrics(service.metricsRegistry);
  registerStandbyMetrics(service.metricsRegistry);
  const exported = new Map(
    (await service.metricsRegistry.getMetricsAsJSON()).map((metric) => [metric.name, { type: String(metric.type), labels: new Set((metric as unknown as { labelNames?: string[] }).labelNames ?? []) }]),
  );
  // prom-client's JSON has no label names: take them from the metric objects.
  for (const name of exported.keys()) {
    const metric = service.metricsRegistry.getSingleMetric(name) as unknown as { labelNames: string[] };
    exported.get(name)!.labels = new Set(metric.labelNames);
  }
  return exported;
}
