import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client';
import { Attachment } from '../../core/attachments.js';
import { defineHandler } from '../../core/chain/handler.js';
import { folderOf } from '../../core/config/folder-of.js';
import { failureStatusOf } from '../../core/errors/light-error.js';
import type { ConsumedEvent } from '../../core/kafka/consumer.js';
import { METRICS_SCHEMA, type MetricsYml } from './config.js';

const RECORD_LABELS = ['serviceId', 'topic', 'direction', 'clientId', 'callerId', 'status'] as const;

/** A metric of this name from the registry, or a new one registered there (several services may share a registry). */
function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/**
 * Per-record counters and durations labelled by service, topic, direction, the JWT's client id, the caller's
 * service id and the status code; consumer lag per partition; dead-lettered records per topic and code.
 */
export default defineHandler<MetricsYml>({
  name: 'metrics',
  configName: 'metrics',
  configSchema: METRICS_SCHEMA,
  defaultConfigDir: folderOf(import.meta.url),
  create(config, services) {
    const registry = services.metricsRegistry;
    if (config.server.enabled) {
      services.health.serve({ registry, host: config.server.host, port: config.server.port, brokerCheckTimeoutMs: config.brokerCheckTimeoutMs });
    }
    const p = config.prefix;
    if (config.collectDefaultMetrics && !registry.getSingleMetric(`${p}process_cpu_user_seconds_total`)) {
      collectDefaultMetrics({ register: registry, prefix: p });
    }
    const records = metric(registry, `${p}records_total`, () =>
      new Counter({ name: `${p}records_total`, help: 'Records through the chain', labelNames: RECORD_LABELS, registers: [registry] }),
    );
    const duration = metric(registry, `${p}record_duration_seconds`, () =>
      new Histogram({ name: `${p}record_duration_seconds`, help: 'Time in the rest of the chain', labelNames: RECORD_LABELS, buckets: config.durationBuckets, registers: [registry] }),
    );
    const lag = metric(registry, `${p}consumer_lag`, () =>
      new Gauge({ name: `${p}consumer_lag`, help: 'Records behind the high watermark after this record', labelNames: ['serviceId', 'topic', 'partition'], registers: [registry] }),
    );
    const deadLettered = metric(registry, `${p}dead_letter_total`, () =>
      new Counter({ name: `${p}dead_letter_total`, help: 'Records written to a dead-letter topic', labelNames: ['serviceId', 'topic', 'code'], registers: [registry] }),
    );
    services.events.on('record', (event: ConsumedEvent) => {
      if (event.outcome.kind === 'deadLettered') {
        deadLettered.inc({ serviceId: services.serviceId, topic: event.topic, code: failureStatusOf(event.outcome.error).code });
      }
    });

    return async function metrics(exchange, next) {
      const started = process.hrtime.bigint();
      let status = '200';
      try {
        await next();
      } catch (error) {
        status = String(failureStatusOf(error).statusCode);
        throw error;
      } finally {
        const claims = exchange.attachments.get(Attachment.claims);
        const labels = {
          serviceId: services.serviceId,
          topic: exchange.topic,
          direction: exchange.direction,
          clientId: claims?.clientId ?? '',
          callerId: exchange.identity.callerId ?? '',
          status,
        };
        records.inc(labels);
        duration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
        if (exchange.direction === 'consume' && exchange.highWatermark !== undefined && exchange.offset !== undefined) {
          lag.set({ serviceId: services.serviceId, topic: exchange.topic, partition: String(exchange.partition) }, Math.max(0, Number(exchange.highWatermark) - Number(exchange.offset) - 1));
        }
      }
    };
  },
});
