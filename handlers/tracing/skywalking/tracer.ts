import { randomUUID } from 'node:crypto';
import { FORMAT_HTTP_HEADERS, FORMAT_TEXT_MAP, REFERENCE_CHILD_OF, Span, SpanContext, Tags, Tracer, type SpanOptions } from 'opentracing';
import type { TagNames } from '../config.js';
import { ComponentId, SpanLayer, type FinishedSegment, type FinishedSpan, type SegmentRef, type SpanType } from './segments.js';
import { formatSw8, parseSw8, SW8_HEADER, type Sw8Context } from './sw8.js';

export interface SkyWalkingTracerOptions {
  service: string;
  serviceInstance: string;
  /** tracing.yml sampler: which traces that start here are recorded (a trace that comes in keeps its decision). */
  sampler: { type: 'const' | 'probabilistic' | 'ratelimiting'; param: number };
  /** The tag names the tracing handler writes (tracing.yml tagNames): the topic, group and peer are read from them. */
  tagNames: TagNames;
  /** tracing.yml tags: added to every span. */
  tags?: Record<string, string>;
  /**
   * At most this many spans are recorded per segment (the SkyWalking Java agent's span_limit_per_segment, 300):
   * a long unit of work (a streamed response, a job that produces for hours) keeps a bounded record, reported as
   * size-limited. Spans beyond it still carry the trace on (sw8), unrecorded.
   */
  spanLimitPerSegment?: number;
  /** Receives each segment when its last span finishes (sampled segments only). */
  report(segment: FinishedSegment): void;
  now?: () => number;
}

/**
 * An OpenTracing tracer that records SkyWalking trace segments, so the tracing handler's spans (Kafka produce and
 * consume, HTTP server and client, transactions) become SkyWalking spans with the SkyWalking agents' conventions:
 * a segment per unit of work in this process (a consumed record, an HTTP request), Entry/Exit/Local spans from the
 * OpenTracing span kind, component ids 40/41 (kafka-producer/-consumer), 49/2 (HTTP server/client), layer MQ or
 * Http, `sw8` in and out, CROSS_PROCESS references to the producer's or caller's segment.
 *
 * It is not skywalking-backend-js's process-wide agent (one service name per process, context kept in its own
 * async storage, no Kafka plugin): the tracer is per service and its parents are the handler's explicit span
 * contexts. The agent's protocol classes carry the segments to the OAP (reporter.ts).
 */
export class SkyWalkingTracer extends Tracer {
  private readonly now: () => number;
  private readonly sampleRoot: () => boolean;

  constructor(readonly options: SkyWalkingTracerOptions) {
    super();
    this.now = options.now ?? Date.now;
    this.sampleRoot = rootSampler(options.sampler, this.now);
  }

  protected override _startSpan(name: string, fields: SpanOptions): Span {
    // The parent: a span of this process (child-of before follows-from); else the contexts headers carried in.
    let localParent: SkyWalkingSpan | undefined;
    let parentIsChildOf = false;
    const remotes: Sw8Context[] = [];
    for (const reference of fields.references ?? []) {
      const context = reference.referencedContext();
      if (!(context instanceof SkyWalkingSpanContext)) continue;
      const childOf = reference.type() === REFERENCE_CHILD_OF;
      if (context.span && (!localParent || (childOf && !parentIsChildOf))) {
        localParent = context.span;
        parentIsChildOf = childOf;
      } else if (context.remote && !remotes.includes(context.remote)) {
        remotes.push(context.remote);
      }
    }
    let segment: OpenSegment;
    let parentSpanId = -1;
    const refs: SegmentRef[] = [];
    if (localParent && !localParent.segment.closed) {
      segment = localParent.segment;
      parentSpanId = localParent.id;
    } else if (localParent) {
      // The parent's segment was already reported (work that outlived its unit): a new segment that refers to it.
      segment = new OpenSegment(localParent.segment.traceId, localParent.segment.sampled, this);
      refs.push({ ...localParent.referenceFrom(), type: 'CrossThread' });
    } else if (remotes.length > 0) {
      segment = new OpenSegment(remotes[0]!.traceId, remotes[0]!.sampled, this);
      for (const remote of remotes) refs.push(referenceFromHeader(remote));
    } else {
      segment = new OpenSegment(newId(), this.sampleRoot(), this);
    }
    const span = new SkyWalkingSpan(this, segment, segment.newSpanId(), parentSpanId, name, fields.startTime ?? this.now(), refs);
    if (this.options.tags) span.addTags(this.options.tags);
    if (fields.tags) span.addTags(fields.tags);
    return span;
  }

  protected override _inject(context: SpanContext, format: string, carrier: unknown): void {
    if ((format !== FORMAT_TEXT_MAP && format !== FORMAT_HTTP_HEADERS) || typeof carrier !== 'object' || carrier === null) return;
    if (!(context instanceof SkyWalkingSpanContext)) return;
    const value = context.span ? formatSw8(context.span.headerContext()) : context.remote ? formatSw8(context.remote) : undefined;
    if (value) (carrier as Record<string, string>)[SW8_HEADER] = value;
  }

  /** The context an `sw8` carries; null when there is none or it is malformed (a new trace starts, never an error). */
  protected override _extract(format: string, carrier: unknown): SpanContext | null {
    if ((format !== FORMAT_TEXT_MAP && format !== FORMAT_HTTP_HEADERS) || typeof carrier !== 'object' || carrier === null) return null;
    let value: unknown;
    for (const [name, candidate] of Object.entries(carrier as Record<string, unknown>)) if (name.toLowerCase() === SW8_HEADER) value = candidate;
    const remote = parseSw8(typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('utf8') : undefined);
    return remote ? new SkyWalkingSpanContext(undefined, remote) : null;
  }

  /** @internal A segment's last span finished. */
  segmentClosed(segment: OpenSegment): void {
    if (!segment.sampled) return;
    this.options.report({
      traceId: segment.traceId,
      segmentId: segment.segmentId,
      service: this.options.service,
      serviceInstance: this.options.serviceInstance,
      spans: segment.finished.map((span) => span.toFinished()),
      sizeLimited: segment.sizeLimited,
    });
  }

  /** @internal */
  clock(): number {
    return this.now();
  }

  /** @internal */
  get spanLimit(): number {
    return this.options.spanLimitPerSegment ?? 300;
  }
}

/** Span ids are per segment; a segment is closed (and reported) once every span started in it has finished. */
class OpenSegment {
  readonly segmentId = newId();
  readonly finished: SkyWalkingSpan[] = [];
  first: SkyWalkingSpan | undefined;
  closed = false;
  /** Spans were left out of the record (see spanLimitPerSegment). */
  sizeLimited = false;
  private nextSpanId = 0;
  private open = 0;

  constructor(
    readonly traceId: string,
    readonly sampled: boolean,
    private readonly tracer: SkyWalkingTracer,
  ) {}

  newSpanId(): number {
    this.open += 1;
    return this.nextSpanId++;
  }

  spanFinished(span: SkyWalkingSpan): void {
    // The first spans started are kept (the segment's entry span among them, however late it finishes).
    if (span.id < this.tracer.spanLimit) this.finished.push(span);
    else this.sizeLimited = true;
    this.open -= 1;
    if (this.open === 0) {
      this.closed = true;
      this.tracer.segmentClosed(this);
    }
  }
}

export class SkyWalkingSpanContext extends SpanContext {
  constructor(
    /** A span of this process. */
    readonly span: SkyWalkingSpan | undefined,
    /** A context read from an `sw8` header. */
    readonly remote: Sw8Context | undefined,
  ) {
    super();
  }

  override toTraceId(): string {
    return this.span?.segment.traceId ?? this.remote?.traceId ?? '';
  }

  override toSpanId(): string {
    return this.span ? `${this.span.segment.segmentId}.${this.span.id}` : this.remote ? `${this.remote.parentSegmentId}.${this.remote.parentSpanId}` : '';
  }

  /** Read by the tracing handler to tell sampled from unsampled records. */
  isSampled(): boolean {
    return this.span?.segment.sampled ?? this.remote?.sampled ?? false;
  }
}

type TagValue = string | number | boolean;

export class SkyWalkingSpan extends Span {
  private operation: string;
  private readonly tags = new Map<string, TagValue>();
  private readonly logs: Array<{ time: number; data: Array<[string, string]> }> = [];
  private endTime = 0;
  private readonly spanContext: SkyWalkingSpanContext;

  constructor(
    private readonly owner: SkyWalkingTracer,
    readonly segment: OpenSegment,
    readonly id: number,
    private readonly parentId: number,
    operation: string,
    private readonly startTime: number,
    private readonly refs: SegmentRef[],
  ) {
    super();
    this.operation = operation;
    this.spanContext = new SkyWalkingSpanContext(this, undefined);
    segment.first ??= this;
  }

  protected override _context(): SpanContext {
    return this.spanContext;
  }

  protected override _tracer(): Tracer {
    return this.owner;
  }

  protected override _setOperationName(name: string): void {
    this.operation = name;
  }

  protected override _addTags(tags: Record<string, unknown>): void {
    for (const [key, value] of Object.entries(tags)) {
      if (value === undefined || value === null) continue;
      this.tags.set(key, typeof value === 'number' || typeof value === 'boolean' ? value : String(value));
    }
  }

  protected override _log(fields: Record<string, unknown>, timestamp?: number): void {
    this.logs.push({ time: timestamp ?? this.owner.clock(), data: Object.entries(fields).map(([key, value]) => [key, String(value)]) });
  }

  protected override _finish(finishTime?: number): void {
    if (this.endTime !== 0) return;
    this.endTime = finishTime ?? this.owner.clock();
    this.segment.spanFinished(this);
  }

  private get kind(): string | undefined {
    const kind = this.tags.get(Tags.SPAN_KIND);
    return typeof kind === 'string' ? kind : undefined;
  }

  private get isKafka(): boolean {
    return this.tags.get(this.owner.options.tagNames.system) === 'kafka';
  }

  private get peer(): string {
    const peer = this.tags.get(this.owner.options.tagNames.peer);
    return peer === undefined ? '' : String(peer);
  }

  /** SkyWalking's endpoint names for Kafka (as its Java agent names them, so dashboards match across languages). */
  get operationName(): string {
    const kind = this.kind;
    if (this.isKafka && (kind === Tags.SPAN_KIND_MESSAGING_PRODUCER || kind === Tags.SPAN_KIND_MESSAGING_CONSUMER)) {
      const names = this.owner.options.tagNames;
      const topic = String(this.tags.get(names.destination) ?? '');
      if (kind === Tags.SPAN_KIND_MESSAGING_PRODUCER) return `Kafka/${topic}/Producer`;
      const group = this.tags.get(names.consumerGroup);
      return `Kafka/${topic}/Consumer${group === undefined ? '' : `/${String(group)}`}`;
    }
    return this.operation;
  }

  /** What an `sw8` written for this span says. */
  headerContext(): Sw8Context {
    const { service, serviceInstance } = this.owner.options;
    return {
      sampled: this.segment.sampled,
      traceId: this.segment.traceId,
      parentSegmentId: this.segment.segmentId,
      parentSpanId: this.id,
      parentService: service,
      parentInstance: serviceInstance,
      // The endpoint of the unit of work the call comes from: the segment's first span, as SkyWalking's agents do.
      parentEndpoint: (this.segment.first ?? this).operationName,
      peer: this.peer,
    };
  }

  /** @internal */
  referenceFrom(): SegmentRef {
    return referenceFromHeader(this.headerContext());
  }

  /** @internal */
  toFinished(): FinishedSpan {
    const { spanType, componentId, layer } = this.shape();
    const tags: Array<[string, string]> = [];
    for (const [key, value] of this.tags) if (key !== Tags.SPAN_KIND) tags.push([key, String(value)]);
    if (this.isKafka) {
      const topic = this.tags.get(this.owner.options.tagNames.destination);
      if (topic !== undefined) tags.push(['mq.topic', String(topic)]);
      if (this.peer) tags.push(['mq.broker', this.peer]);
    }
    const url = this.tags.get(Tags.HTTP_URL);
    if (url !== undefined) tags.push(['url', String(url)]);
    return {
      spanId: this.id,
      parentSpanId: this.parentId,
      startTime: this.startTime,
      endTime: this.endTime,
      operationName: this.operationName,
      peer: this.peer,
      spanType,
      layer,
      componentId,
      isError: this.tags.get(Tags.ERROR) === true,
      tags,
      logs: this.logs,
      refs: this.refs,
    };
  }

  private shape(): { spanType: SpanType; componentId: number; layer: number } {
    switch (this.kind) {
      case Tags.SPAN_KIND_MESSAGING_PRODUCER:
        return { spanType: 'Exit', componentId: ComponentId.kafkaProducer, layer: SpanLayer.mq };
      case Tags.SPAN_KIND_MESSAGING_CONSUMER:
        return { spanType: 'Entry', componentId: ComponentId.kafkaConsumer, layer: SpanLayer.mq };
      case Tags.SPAN_KIND_RPC_SERVER:
        return { spanType: 'Entry', componentId: ComponentId.httpServer, layer: SpanLayer.http };
      case Tags.SPAN_KIND_RPC_CLIENT:
        return { spanType: 'Exit', componentId: ComponentId.http, layer: SpanLayer.http };
      default:
        return { spanType: 'Local', componentId: ComponentId.unknown, layer: SpanLayer.unknown };
    }
  }
}

function referenceFromHeader(remote: Sw8Context): SegmentRef {
  const { sampled: _sampled, ...reference } = remote;
  return { type: 'CrossProcess', ...reference };
}

/** Trace and segment ids as skywalking-backend-js makes them: a UUID without dashes. */
function newId(): string {
  return randomUUID().replaceAll('-', '');
}

/** Whether a trace that starts here is recorded: const (param >= 1: all, else none), probabilistic (param = ratio), ratelimiting (param = traces per second). */
function rootSampler(sampler: SkyWalkingTracerOptions['sampler'], now: () => number): () => boolean {
  if (sampler.type === 'const') return () => sampler.param >= 1;
  if (sampler.type === 'probabilistic') return () => Math.random() < sampler.param;
  let second = -1;
  let taken = 0;
  return () => {
    const current = Math.floor(now() / 1000);
    if (current !== second) {
      second = current;
      taken = 0;
    }
    if (taken >= sampler.param) return false;
    taken += 1;
    return true;
  };
}
