import { FORMAT_TEXT_MAP, followsFrom, Tags, type Span, type SpanContext, type Tracer } from 'opentracing';
import { Attachment, ContextValue, Shared, TypedMap, typedKey } from '../../core/attachments.js';
import { defineHandler, phasedHandler, type RecordFailure } from '../../core/chain/handler.js';
import { folderOf } from '../../core/config/folder-of.js';
import { failureStatusOf } from '../../core/errors/light-error.js';
import type { Exchange } from '../../core/exchange.js';
import type { HttpInterceptors } from '../../core/http/http-interceptors.js';
import { HeaderNames, RecordHeaders } from '../../core/headers.js';
import { DEFAULT_IDENTITY_HEADERS } from '../../core/identity.js';
import { currentContext, runWithContext } from '../../core/request-context.js';
import type { TransactionInfo } from '../../core/transactions.js';
import { TRACING_SCHEMA, type TagNames, type TracingYml } from './config.js';
import { createTracer } from './tracer-factory.js';

/** Trace headers of any supported tracer; only these are read from or written to records. */
const TRACE_HEADERS: readonly string[] = [HeaderNames.jaegerTrace, HeaderNames.traceparent, HeaderNames.tracestate, HeaderNames.skywalking];
const BAGGAGE_PREFIXES = ['uberctx-'];

function isTraceHeader(name: string): boolean {
  return isLowerTraceHeader(name.toLowerCase());
}

function isLowerTraceHeader(lower: string): boolean {
  if (TRACE_HEADERS.includes(lower)) return true;
  for (const prefix of BAGGAGE_PREFIXES) if (lower.startsWith(prefix)) return true;
  return false;
}

/**
 * A text-map carrier of the trace headers: lower-cased names, UTF-8 values (the tracers match names in lower case);
 * undefined when there is none.
 */
function carrierOf(headers: RecordHeaders | Iterable<[string, string | string[] | undefined]>): Record<string, string> | undefined {
  // Record headers know their lower-cased names: no pair, no lower-casing per header.
  if (headers instanceof RecordHeaders) return headers.textsWhere(isLowerTraceHeader);
  let carrier: Record<string, string> | undefined;
  for (const [name, value] of headers) {
    if (value === undefined || !isTraceHeader(name)) continue;
    (carrier ??= {})[name.toLowerCase()] = Array.isArray(value) ? value[0]! : value;
  }
  return carrier;
}

/**
 * Writes a span's context into a record's or an outgoing call's headers, replacing what trace headers were there
 * (another tracer's too: they would name a span that is not the parent of what is sent).
 */
function injectInto(tracer: Tracer, context: SpanContext, headers: RecordHeaders | Headers): void {
  const carrier: Record<string, string> = {};
  tracer.inject(context, FORMAT_TEXT_MAP, carrier);
  if (headers instanceof RecordHeaders) {
    headers.deleteWhere(isLowerTraceHeader);
    for (const name in carrier) headers.set(name, carrier[name]!);
    return;
  }
  for (const name of [...headers.keys()]) if (isTraceHeader(name)) headers.delete(name);
  for (const [name, value] of Object.entries(carrier)) headers.set(name, value);
}

/** The parent carried by headers; a missing or malformed trace header gives none (a new trace), never an error. */
function extractFrom(tracer: Tracer, headers: RecordHeaders | Iterable<[string, string | string[] | undefined]>): SpanContext | undefined {
  const carrier = carrierOf(headers);
  if (carrier === undefined) return undefined;
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
    // The bootstrap broker is the Kafka spans' peer (SkyWalking's topology draws the broker from it).
    const brokerTag: Record<string, string> = services.brokers[0] ? { [names.peer]: services.brokers[0] } : {};
    if (config.http) traceHttp(tracer, services.http, names, services.shared);

    /** A record span's tags, built in one object (each record has a span, sampled or not). */
    function recordTags(exchange: Exchange, operation: string, kind: string): Record<string, unknown> {
      const tags: Record<string, unknown> = {
        [names.system]: 'kafka',
        [names.destination]: exchange.topic,
        [names.operation]: operation,
        ...brokerTag,
      };
      const { correlationId, traceabilityId } = exchange.identity;
      if (correlationId) tags[names.correlationId] = correlationId;
      if (traceabilityId) tags[names.traceabilityId] = traceabilityId;
      if (exchange.keyString !== null && !Buffer.isBuffer(exchange.key)) tags[names.key] = exchange.keyString;
      tags[Tags.SPAN_KIND] = kind;
      if (operation === 'process' && exchange.consumerGroup) tags[names.consumerGroup] = exchange.consumerGroup;
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
        span.log({ event: 'error', message: messageOf(error) });
      } else {
        span.setTag(names.statusCode, 200);
      }
      span.finish();
    }

    // A record that arrives without a trace context starts a trace of its own only when every root is sampled.
    const sampleEveryRoot = config.tracer === 'provided' || (config.sampler.type === 'const' && config.sampler.param >= 1);
    // What a record without trace context is to the batch (one object for all of them).
    const untraced: ProducerTrace = Object.freeze({ producerContext: undefined, oneByOne: sampleEveryRoot });

    function startProduceSpan(exchange: Exchange): Span {
      const context = currentContext();
      const parent = context?.values.get(ContextValue.span)?.context() ?? (context ? extractFrom(tracer, context.headers) : undefined);
      // Tags are added after the start: every OpenTracing tracer supports addTags, not all read start-time tags.
      const span = tracer.startSpan(`${exchange.topic} send`, parent ? { childOf: parent } : {});
      span.addTags(recordTags(exchange, 'publish', Tags.SPAN_KIND_MESSAGING_PRODUCER));
      injectInto(tracer, span.context(), exchange.headers);
      return span;
    }

    function startRecordSpan(exchange: Exchange, producerContext: SpanContext | undefined): Span {
      // The parent is the producer's span (so both share one trace in every tracer); the reference says the
      // relation is follows-from (jaeger records it as such, OpenTelemetry as a link).
      const span = tracer.startSpan(
        `${exchange.topic} process`,
        producerContext ? { childOf: producerContext, references: [followsFrom(producerContext)] } : {},
      );
      span.addTags(recordTags(exchange, 'process', Tags.SPAN_KIND_MESSAGING_CONSUMER));
      return span;
    }

    /**
     * The process span of the records of a batch that are not traced one by one, as OpenTelemetry's messaging
     * conventions trace a batch: linked to each of their producers' spans (jaeger, which has no links, takes the
     * first as its parent). Started when its first record runs, finished when the batch's records are flushed.
     */
    function startBatchSpan(batch: TraceBatch, exchange: Exchange): Span {
      const span = tracer.startSpan(`${exchange.topic} process`, { references: batch.links.map((link) => followsFrom(link)) });
      span.addTags({
        [names.system]: 'kafka',
        [names.destination]: exchange.topic,
        [names.operation]: 'process',
        [names.partition]: exchange.partition,
        ...brokerTag,
        [Tags.SPAN_KIND]: Tags.SPAN_KIND_MESSAGING_CONSUMER,
        ...(exchange.consumerGroup ? { [names.consumerGroup]: exchange.consumerGroup } : {}),
      });
      return span;
    }

    function beginConsumeBatch(exchanges: readonly Exchange[]): TraceBatch {
      const batch: TraceBatch = { producers: new Map(), links: [], span: undefined, inSpan: 0, failed: 0 };
      for (const exchange of exchanges) {
        const producer = producerOf(exchange);
        batch.producers.set(exchange, producer);
        if (!producer.oneByOne && producer.producerContext && batch.links.length < MAX_LINKS) batch.links.push(producer.producerContext);
      }
      return batch;
    }

    /** The producer's span context a record carries, and whether the record is traced one by one. */
    function producerOf(exchange: Exchange): ProducerTrace {
      const producerContext = extractFrom(tracer, exchange.headers);
      return producerContext ? { producerContext, oneByOne: isSampled(producerContext) } : untraced;
    }

    function beforeConsume(exchange: Exchange, batch: TraceBatch): void {
      const { producerContext, oneByOne } = batch.producers.get(exchange) ?? producerOf(exchange);
      let span: Span;
      if (oneByOne) {
        span = startRecordSpan(exchange, producerContext);
      } else {
        span = batch.span ??= startBatchSpan(batch, exchange);
        batch.inSpan += 1;
        exchange.attachments.set(IN_BATCH_SPAN, true);
      }
      exchange.attachments.set(Attachment.span, span);
      const context = currentContext();
      if (context) {
        // Everything the rest of the chain produces or calls is a child of this span; a span that is not sampled
        // leaves the context's trace headers as they came (downstream keeps the upstream decision).
        context.values.set(ContextValue.span, span);
        if (oneByOne || isSampled(span.context())) injectInto(tracer, span.context(), context.headers);
      }
    }

    function afterRecord(exchange: Exchange, failure: RecordFailure | undefined, batch: TraceBatch | undefined): void {
      const span = exchange.attachments.get(Attachment.span);
      if (!span) return;
      if (exchange.attachments.get(IN_BATCH_SPAN)) {
        // The batch span is finished by endBatch (possibly already, when a slow record let the ones before it flush).
        if (failure !== undefined && batch !== undefined) {
          batch.failed += 1;
          span.log({ event: 'error', offset: exchange.offset, message: messageOf(failure.error) });
        }
        return;
      }
      finish(span, exchange, failure?.error);
    }

    function endConsumeBatch(batch: TraceBatch): void {
      const span = batch.span;
      if (!span) return;
      batch.span = undefined;
      span.setTag(names.batchCount, batch.inSpan);
      if (batch.failed > 0) span.setTag(Tags.ERROR, true);
      batch.inSpan = 0;
      batch.failed = 0;
      span.finish();
    }

    return phasedHandler<TraceBatch | undefined>({
      name: 'tracing',
      beginBatch(exchanges) {
        return exchanges[0]?.direction === 'consume' ? beginConsumeBatch(exchanges) : undefined;
      },
      before(exchange, batch) {
        if (exchange.direction === 'produce') exchange.attachments.set(Attachment.span, startProduceSpan(exchange));
        else beforeConsume(exchange, batch ?? beginConsumeBatch([]));
      },
      after: afterRecord,
      endBatch(_exchanges, batch) {
        if (batch) endConsumeBatch(batch);
      },
    });
  },
});

/**
 * Spans for the service's HTTP hops: a server span for each request served through service.httpContext (the parent
 * of what the request produces and calls; its trace continues the caller's trace headers) and a client span for
 * each call made with service.fetch (its context written into the call's trace headers). Names follow OpenTelemetry's
 * HTTP conventions: `<METHOD> <route>` when the adapter was given a route, else `<METHOD>` (a raw path would make
 * one span name, one SkyWalking endpoint, per id); the path is in `http.url`.
 */
function traceHttp(tracer: Tracer, http: HttpInterceptors, names: TagNames, shared: TypedMap): void {
  /** The correlation and traceability ids of the unit of work, under the names correlation.yml gives them. */
  function identityTags(headers: RecordHeaders): Record<string, string> {
    const headerNames = shared.get(Shared.identityHeaders) ?? DEFAULT_IDENTITY_HEADERS;
    const tags: Record<string, string> = {};
    const correlationId = headers.get(headerNames.correlationId);
    const traceabilityId = headers.get(headerNames.traceabilityId);
    if (correlationId) tags[names.correlationId] = correlationId;
    if (traceabilityId) tags[names.traceabilityId] = traceabilityId;
    return tags;
  }

  http.addServer(function traceServedRequest(request, response, route) {
    const context = currentContext();
    if (!context) return;
    const parent = extractFrom(tracer, Object.entries(request.headers));
    const method = request.method ?? 'GET';
    const span = tracer.startSpan(route ? `${method} ${route}` : method, parent ? { childOf: parent } : {});
    const { remoteAddress, remotePort } = request.socket;
    span.addTags({
      [Tags.SPAN_KIND]: Tags.SPAN_KIND_RPC_SERVER,
      [Tags.HTTP_METHOD]: method,
      [Tags.HTTP_URL]: (request.url ?? '/').split('?')[0]!,
      ...(route ? { 'http.route': route } : {}),
      ...(remoteAddress ? { [names.peer]: `${remoteAddress}:${remotePort ?? 0}` } : {}),
    });
    context.values.set(ContextValue.span, span);
    injectInto(tracer, span.context(), context.headers);
    let ended = false;
    function endServerSpan(): void {
      if (ended) return;
      ended = true;
      // Read now: an id the correlation handler generated while the request ran is the request's too.
      span.addTags(identityTags(context!.headers));
      if (response.headersSent) span.setTag(Tags.HTTP_STATUS_CODE, response.statusCode);
      // A response that closed before it finished is an error too (the client went away or the server failed).
      if (response.statusCode >= 500 || !response.writableFinished) span.setTag(Tags.ERROR, true);
      span.finish();
    }
    response.once('finish', endServerSpan);
    response.once('close', endServerSpan);
  });

  http.addClient(async function traceCall(call, send) {
    const context = currentContext();
    // The unit of work's span; else the trace the request or record came with (a chain without tracing, or an
    // adapter without service.httpContext), never a new trace that would cut the caller's.
    const parent = context?.values.get(ContextValue.span)?.context() ?? (context ? extractFrom(tracer, context.headers) : undefined);
    const span = tracer.startSpan(call.method, parent ? { childOf: parent } : {});
    const { url } = call;
    span.addTags({
      [Tags.SPAN_KIND]: Tags.SPAN_KIND_RPC_CLIENT,
      [Tags.HTTP_METHOD]: call.method,
      [Tags.HTTP_URL]: `${url.origin}${url.pathname}`,
      [names.peer]: `${url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`,
      ...(context ? identityTags(context.headers) : {}),
    });
    try {
      injectInto(tracer, span.context(), call.headers);
      const response = await send();
      span.setTag(Tags.HTTP_STATUS_CODE, response.status);
      if (response.status >= 500) span.setTag(Tags.ERROR, true);
      return response;
    } catch (error) {
      span.setTag(Tags.ERROR, true).log({ event: 'error', message: messageOf(error) });
      throw error;
    } finally {
      span.finish();
    }
  });
}

/** Marks a record traced by its batch's process span (which its after must not finish). */
const IN_BATCH_SPAN = typedKey<boolean>('light-kafka.tracing.inBatchSpan');

/** At most this many producer spans are linked from one batch span. */
const MAX_LINKS = 128;

/** A consumed batch: each record's producer context and whether it is traced one by one; the shared span. */
interface ProducerTrace {
  producerContext: SpanContext | undefined;
  oneByOne: boolean;
}

interface TraceBatch {
  producers: Map<Exchange, ProducerTrace>;
  links: SpanContext[];
  span: Span | undefined;
  inSpan: number;
  failed: number;
}

/** Whether a span context is sampled: jaeger's and OpenTelemetry's; any other tracer's is taken as sampled. */
function isSampled(context: SpanContext): boolean {
  const jaeger = context as { isSampled?: () => boolean };
  if (typeof jaeger.isSampled === 'function') return jaeger.isSampled();
  const otel = context as { getSpanContext?: () => { traceFlags: number } };
  if (typeof otel.getSpanContext === 'function') return (otel.getSpanContext().traceFlags & 1) === 1;
  return true;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

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
