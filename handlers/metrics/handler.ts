import { collectDefaultMetrics, type Registry } from 'prom-client';
import { registeredCounter, registeredGauge, registeredHistogram } from '../../core/registered-metric.js';
import { Attachment, typedKey } from '../../core/attachments.js';
import { defineHandler, phasedHandler } from '../../core/chain/handler.js';
import type { Exchange } from '../../core/exchange.js';
import { folderOf } from '../../core/config/folder-of.js';
import { failureStatusOf } from '../../core/errors/light-error.js';
import type { ConsumedEvent } from '../../core/kafka/consumer.js';
import { METRICS_SCHEMA, type MetricsYml } from './config.js';
import { HistogramSeries } from './histogram-series.js';

const RECORD_LABELS = ['serviceId', 'topic', 'direction', 'clientId', 'callerId', 'status'] as const;

/**
 * Per-record counters and durations labelled by service, topic, direction, the JWT's client id, the caller's
 * service id and the status code; consumer lag and position (offset) per partition; dead-lettered records per topic
 * and code.
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
    const records = registeredCounter(registry, { name: `${p}records_total`, help: 'Records through the chain', labelNames: RECORD_LABELS });
    const duration = registeredHistogram(registry, { name: `${p}record_duration_seconds`, help: 'Time in the rest of the chain', labelNames: RECORD_LABELS, buckets: config.durationBuckets });
    const lag = registeredGauge(registry, { name: `${p}consumer_lag`, help: 'Records behind the high watermark after this record', labelNames: ['serviceId', 'topic', 'partition'] });
    const position = registeredGauge(registry, {
      name: `${p}consumer_offset`,
      help: 'Offset the partition resumes at: after the last record that finished the chain, or at the record that stopped the partition (failurePolicy: stop)',
      labelNames: ['serviceId', 'topic', 'partition'],
    });
    const deadLettered = registeredCounter(registry, { name: `${p}dead_letter_total`, help: 'Records written to a dead-letter topic', labelNames: ['serviceId', 'topic', 'code'] });
    services.events.on('deadLettered', (event: ConsumedEvent) => {
      if (event.outcome.kind === 'deadLettered') {
        deadLettered.inc({ serviceId: services.serviceId, topic: event.topic, code: failureStatusOf(event.outcome.error).code });
      }
    });
    // Per partition: the high watermark its last batch was read at, for the lag of a partition that stops.
    const highWatermarks = new Map<string, bigint>();
    const setPosition = (topic: string, partition: number, offset: bigint, highWatermark: bigint): void => {
      const labels = { serviceId: services.serviceId, topic, partition: String(partition) };
      position.set(labels, Number(offset));
      lag.set(labels, Number(highWatermark > offset ? highWatermark - offset : 0n));
    };
    // A stopped partition (failurePolicy: stop) resumes at the record that stopped it, which is behind too: the
    // consumer emits this after the handlers' endBatch of the batch, so these values stay until it resumes.
    services.events.on('partitionStopped', (event: { topic: string; partition: number; offset: string }) => {
      const highWatermark = highWatermarks.get(`${event.topic}:${event.partition}`);
      if (highWatermark !== undefined) setPosition(event.topic, event.partition, BigInt(event.offset), highWatermark);
    });

    const STARTED = typedKey<number>('light-kafka.metrics.started');
    const durations = new HistogramSeries(duration);
    const labelSets = new LabelSets(services.serviceId);

    return phasedHandler<MetricsBatch>({
      name: 'metrics',
      beginBatch: () => ({ groups: new Map(), last: undefined }),
      before(exchange) {
        exchange.attachments.set(STARTED, performance.now());
      },
      after(exchange, failure, batch) {
        const seconds = (performance.now() - exchange.attachments.get(STARTED)!) / 1000;
        const status = failure === undefined ? '200' : String(failureStatusOf(failure.error).statusCode);
        const clientId = exchange.attachments.get(Attachment.claims)?.clientId ?? '';
        const callerId = exchange.identity.callerId ?? '';
        // Records of a batch mostly share their labels: the previous record's group is tried first.
        let group = batch.last;
        if (group === undefined || !sameLabels(group.labels, exchange, status, clientId, callerId)) {
          const labels = labelSets.of(exchange, status, clientId, callerId);
          group = batch.groups.get(labels);
          if (group === undefined) batch.groups.set(labels, (group = { labels, durations: [] }));
          batch.last = group;
        }
        group.durations.push(seconds);
      },
      endBatch(exchanges, batch) {
        for (const group of batch.groups.values()) {
          records.inc(group.labels, group.durations.length);
          durations.observeAll(group.labels, group.durations);
        }
        batch.groups.clear();
        batch.last = undefined;
        // Position and lag once per partition of the batch, after its highest record.
        const last = new Map<string, Exchange>();
        for (const exchange of exchanges) {
          if (exchange.direction !== 'consume' || exchange.highWatermark === undefined || exchange.offset === undefined) continue;
          const key = `${exchange.topic}:${exchange.partition}`;
          const before = last.get(key);
          if (!before || isAfter(exchange.offset, before.offset!)) last.set(key, exchange);
        }
        for (const [key, exchange] of last) {
          const highWatermark = BigInt(exchange.highWatermark!);
          highWatermarks.set(key, highWatermark);
          setPosition(exchange.topic, exchange.partition!, BigInt(exchange.offset!) + 1n, highWatermark);
        }
      },
    });
  },
});

type RecordLabels = Record<(typeof RECORD_LABELS)[number], string>;

interface LabelGroup {
  labels: RecordLabels;
  durations: number[];
}

/** A batch's records grouped by label set: counted once, their durations observed at the batch's end. */
interface MetricsBatch {
  groups: Map<RecordLabels, LabelGroup>;
  /** The group of the batch's previous record. */
  last: LabelGroup | undefined;
}

/** Whether offset `a` is after `b`: decimal strings, compared without parsing each record's offset. */
function isAfter(a: string, b: string): boolean {
  return a.length === b.length ? a > b : a.length > b.length;
}

function sameLabels(labels: RecordLabels, exchange: Exchange, status: string, clientId: string, callerId: string): boolean {
  return labels.status === status && labels.clientId === clientId && labels.callerId === callerId && labels.topic === exchange.topic && labels.direction === exchange.direction;
}

/** One labels object per distinct label set, kept from batch to batch (the histogram keeps each one's hash). */
class LabelSets {
  private readonly sets = new Map<string, RecordLabels>();

  constructor(private readonly serviceId: string) {}

  of(exchange: Exchange, status: string, clientId: string, callerId: string): RecordLabels {
    const key = `${exchange.topic}\u0000${status}\u0000${clientId}\u0000${callerId}\u0000${exchange.direction}`;
    let labels = this.sets.get(key);
    if (labels === undefined) {
      // A bound: label values come from records.
      if (this.sets.size >= MAX_LABEL_SETS) this.sets.clear();
      labels = { serviceId: this.serviceId, topic: exchange.topic, direction: exchange.direction, clientId, callerId, status };
      this.sets.set(key, labels);
    }
    return labels;
  }
}

const MAX_LABEL_SETS = 10_000;
