import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { registerStreamsMetrics } from '../../core/streams/light-streams.js';
import { LightService } from '../../index.js';
import { configDir, consumerYml, producerYml, serviceYml } from '../support/config-dir.js';

interface Panel {
  title: string;
  targets: { expr: string }[];
}

/** Every metric and label the Grafana dashboard queries is one the service exports. */
describe('the Grafana dashboard', () => {
  it('queries only metrics the service exports, by labels those metrics have', async () => {
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
    const exported = new Map(
      (await service.metricsRegistry.getMetricsAsJSON()).map((metric) => [metric.name, { type: String(metric.type), labels: new Set((metric as unknown as { labelNames?: string[] }).labelNames ?? []) }]),
    );
    // prom-client's JSON has no label names: take them from the metric objects.
    for (const name of exported.keys()) {
      const metric = service.metricsRegistry.getSingleMetric(name) as unknown as { labelNames: string[] };
      exported.get(name)!.labels = new Set(metric.labelNames);
    }
    const dashboard = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'dashboards', 'light-kafka.json'), 'utf8')) as { panels: Panel[] };
    let queries = 0;
    for (const panel of dashboard.panels) {
      for (const { expr } of panel.targets) {
        queries += 1;
        const names = [...expr.matchAll(/light_kafka_[a-z_]+/g)].map(([name]) => name!.replace(/_(bucket|sum|count)$/, ''));
        expect(names, panel.title).to.not.be.empty;
        for (const name of names) {
          expect(exported.has(name), `${panel.title}: ${name} is not exported (exported: ${[...exported.keys()].join(', ')})`).to.equal(true);
          const labels = [...expr.matchAll(/by \(([^)]*)\)/g)].flatMap(([, list]) => list!.split(',').map((label) => label.trim())).filter((label) => label !== 'le');
          const selectors = [...expr.matchAll(/([A-Za-z_]+)=~?"/g)].map(([, label]) => label!);
          for (const label of [...labels, ...selectors]) expect(exported.get(name)!.labels.has(label), `${panel.title}: ${name} has no label ${label}`).to.equal(true);
        }
      }
    }
    expect(queries).to.be.at.least(8);
  });
});
