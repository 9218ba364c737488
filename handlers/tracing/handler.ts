import { FORMAT_TEXT_MAP, followsFrom, Tags, type Span, type SpanContext, type Tracer } from 'opentracing';
import { Attachment, ContextValue, TypedMap } from '../../core/attachments.js';
import { defineHandler } from '../../core/chain/handler.js';
import { folderOf } from '../../core/config/folder-of.js';
import { failureStatusOf } from '../../core/errors/light-error.js';
import type { Exchange } from '../../core/exchange.js';
import { HeaderNames, RecordHeaders } from '../../core/headers.js';
import { currentContext, runWithContext } from '../../core/request-context.js';
import type { TransactionInfo } from '../../core/transactions.js';
import { TRACING_SCHEMA, type TagNames, type TracingYml } from './config.js';
import { createTracer } from './tracer-factory.js';

/** Trace headers of any supported tracer; only these are read from or written to records. */
const TRACE_HEADERS: readonly string[] = [HeaderNames.jaegerTrace, HeaderNames.traceparent, HeaderNames.tracestate];
const BAGGAGE_PREFIXES = ['uberctx-'];

function isTraceHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return TRACE_HEADERS.includes(lower) || BAGGAGE_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

/** A text-map carrier from record headers: lower-cased names, UTF-8 values (the tracers match names in lower case). */
function carrierOf(headers: RecordHeaders): Record<string, string> {
  const carrier: Record<string, string> = {};
  for (const [name, value] of headers) if (isTraceHeader(name)) carrier[name.toLowerCase()] = value.toString('utf8');
  return carrier;
}

/** Writes a span's context into headers, replacing what trace headers were there. */
function injectInto(tracer: Tracer, context: SpanContext, headers: RecordHeaders): void {
  const carrier: Record<string, string> = {};
  tracer.inject(context, FORMAT_TEXT_MAP, carrier);
  for (const name of headers.names()) if (isTraceHeader(name)) headers.delete(name);
  for (const [name, value] of Object.entries(carrier)) headers.set(name, value);
}

/** The parent carried by headers; a missing or malformed trace header gives none (a new trace), never an error. */
function extractFrom(tracer: Tracer, headers: RecordHeaders): SpanContext | undefined {
  const carrier = carrierOf(headers);
  if (Object.keys(carrier).length === 0) return undefined;
  try {
    const context = tracer.extract(FORMAT_TEXT_MAP, carrier);
    return context && context.toTraceId() ? context : undefined;
  } catch {
    return undefined;
  }
}

/**
 * OpenTracing spans across Kafka hops. Produce: a producer span per record, a child of the unit of work's active
 * span, its context injected into the record's headers. Consume: a span per record that follows from the
 * producer's span and is active while the rest of the chain and the business handler run, so what they produce
 * or call over HTTP (service.fetch) becomes its child. Tags follow the OpenTelemetry messaging conventions.
 */
export default defineHandler<TracingYml>({
  name: 'tracing',
  configName: 'tracing',
  configSchema: TRACING_SCHEMA,
  defaultConfigDir: folderOf(import.meta.url),
  async create(config, services) {
    const { file } = services.config.locate('tracing', folderOf(import.meta.url));
    const managed = await createTracer(config, config.serviceName || services.serviceId, services.logger, services.extra.tracer, file);
    const { tracer } = managed;
    services.addCloseHook(() => managed.close());
    services.transactions.add(<T>(info: TransactionInfo, run: () => Promise<T>) => traceTransaction(tracer, info, run));
    const names: TagNames = config.tagNames;

    function commonTags(exchange: Exchange, operation: string): Record<string, unknown> {
      const tags: Record<string, unknown> = {
        [names.system]: 'kafka',
        [names.destination]: exchange.topic,
        [names.operation]: operation,
      };
      const { correlationId, traceabilityId } = exchange.identity;
      if (correlationId) tags[names.correlationId] = correlationId;
      if (traceabilityId) tags[names.traceabilityId] = traceabilityId;
      if (exchange.keyString !== null && !Buffer.isBuffer(exchange.key)) tags[names.key] = exchange.keyString;
      return tags;
    }

    function finish(span: Span, exchange: Exchange, error: unknown): void {
      if (exchange.partition !== undefined) span.setTag(names.partition, exchange.partition);
      if (exchange.offset !== undefined) span.setTag(names.offset, exchange.offset);
      if (error !== undefined) {
        const status = failureStatusOf(error);
        span.setTag(Tags.ERROR, true);
        span.setTag(names.statusCode, status.statusCode);
        span.setTag(names.errorCode, status.code);
        span.log({ event: 'error', message: error instanceof Error ? error.message : String(error) });
      } else {
        span.setTag(names.statusCode, 200);
      }
      span.finish();
    }

    /** Runs the rest of the chain with `span` on the exchange, then finishes it with the outcome. */
    async function runInSpan(span: Span, exchange: Exchange, next: () => Promise<void>): Promise<void> {
      exchange.attachments.set(Attachment.span, span);
      let failure: unknown;
      try {
        await next();
      } catch (error) {
        failure = error;
        throw error;
      } finally {
        finish(span, exchange, failure);
      }
    }

    async function traceProduce(exchange: Exchange, next: () => Promise<void>): Promise<void> {
      const context = currentContext();
      const parent = context?.values.get(ContextValue.span)?.context() ?? (context ? extractFrom(tracer, context.headers) : undefined);
      // Tags are added after the start: every OpenTracing tracer supports addTags, not all read start-time tags.
      const span = tracer.startSpan(`${exchange.topic} send`, parent ? { childOf: parent } : {});
      span.addTags({ ...commonTags(exchange, 'publish'), [Tags.SPAN_KIND]: Tags.SPAN_KIND_MESSAGING_PRODUCER });
      injectInto(tracer, span.context(), exchange.headers);
      await runInSpan(span, exchange, next);
    }

    async function traceConsume(exchange: Exchange, next: () => Promise<void>): Promise<void> {
      const producerContext = extractFrom(tracer, exchange.headers);
      const group = exchange.attachments.get(Attachment.consumerGroup);
      // The parent is the producer's span (so both share one trace in every tracer); the reference says the
      // relation is follows-from (jaeger records it as such, OpenTelemetry as a link).
      const span = tracer.startSpan(
        `${exchange.topic} process`,
        producerContext ? { childOf: producerContext, references: [followsFrom(producerContext)] } : {},
      );
      span.addTags({
        ...commonTags(exchange, 'process'),
        [Tags.SPAN_KIND]: Tags.SPAN_KIND_MESSAGING_CONSUMER,
        ...(group ? { [names.consumerGroup]: group } : {}),
      });
      const context = currentContext();
      if (context) {
        // Everything the rest of the chain produces or calls is a child of this span.
        context.values.set(ContextValue.span, span);
        injectInto(tracer, span.context(), context.headers);
      }
      await runInSpan(span, exchange, next);
    }

    return async function tracing(exchange, next) {
      if (exchange.direction === 'produce') await traceProduce(exchange, next);
      else await traceConsume(exchange, next);
    };
  },
});

/**
 * One span per transaction of the transactional producer, active while the transaction's work runs, so each
 * record's producer span is its child. Errors mark it.
 */
async function traceTransaction<T>(tracer: Tracer, info: TransactionInfo, run: () => Promise<T>): Promise<T> {
  const outer = currentContext();
  const parent = outer?.values.get(ContextValue.span);
  const span = tracer.startSpan(`transaction ${info.transactionalId}`, parent ? { childOf: parent } : {});
  span.addTags({ 'messaging.system': 'kafka', 'messaging.kafka.transactional_id': info.transactionalId });
  const values = new TypedMap(outer?.values);
  values.set(ContextValue.span, span);
  try {
    const result = await runWithContext({ headers: outer?.headers.clone() ?? new RecordHeaders(), values }, run);
    span.finish();
    return result;
  } catch (error) {
    span.setTag(Tags.ERROR, true).log({ event: 'error', message: error instanceof Error ? error.message : String(error) }).finish();
    throw error;
  }
}
