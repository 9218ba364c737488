import { createRequire } from 'node:module';
import type { Logger } from '../../../core/logger.js';
import type { FinishedSegment, FinishedSpan } from './segments.js';

const require = createRequire(import.meta.url);
/** Modules as skywalking-backend-js resolves them: its generated stubs and we must share one @grpc/grpc-js. */
const agentRequire = createRequire(require.resolve('skywalking-backend-js/package.json'));

export interface SegmentReporterOptions {
  /** host:port of the OAP's gRPC receiver (11800 by default). */
  collectorAddress: string;
  /** The OAP's `Authentication` token, when it asks for one. */
  authentication: string;
  /** How often buffered segments are sent. */
  flushIntervalMs: number;
  /** Segments kept while the collector cannot be reached; the oldest are dropped beyond it (with a warning). */
  maxBufferSize: number;
  logger: Logger;
}

/* The generated protobuf and gRPC classes that ship with skywalking-backend-js (CommonJS, untyped here: their
   declarations need google-protobuf's types, which the package does not install). Setters chain. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Message = any;
type MessageClass = new () => Message;
interface SkyWalkingProto {
  SegmentObject: MessageClass;
  SpanObject: MessageClass;
  SegmentReference: MessageClass;
  SegmentCollection: MessageClass;
  Log: MessageClass;
  KeyStringValuePair: MessageClass;
  SpanType: Record<'ENTRY' | 'EXIT' | 'LOCAL', number>;
  RefType: Record<'CROSSPROCESS' | 'CROSSTHREAD', number>;
}
interface ReportClient {
  collectInSync(collection: Message, metadata: unknown, options: { deadline: number }, callback: (error: (Error & { code?: number }) | null) => void): { cancel(): void };
  getChannel(): { getConnectivityState(connect: boolean): number };
  waitForReady(deadline: number, callback: (error?: Error) => void): void;
  close(): void;
}

function loadProto(): SkyWalkingProto {
  const tracing = require('skywalking-backend-js/lib/proto/language-agent/Tracing_pb.js');
  const common = require('skywalking-backend-js/lib/proto/common/Common_pb.js');
  return { ...tracing, KeyStringValuePair: common.KeyStringValuePair };
}

/**
 * Sends finished segments to a SkyWalking OAP over gRPC (TraceSegmentReportService/collectInSync), with the
 * protocol classes of skywalking-backend-js. Buffered and sent every flushIntervalMs while the channel is up;
 * kept (up to maxBufferSize) while it is not; flushed by close(), which waits a bounded time for the collector.
 */
export class SegmentReporter {
  private buffer: FinishedSegment[] = [];
  private readonly proto = loadProto();
  private readonly grpc = agentRequire('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
  private readonly client: ReportClient;
  private readonly timer: NodeJS.Timeout;
  private sending: Promise<void> | undefined;
  private inFlight: { cancel(): void } | undefined;
  private dropped = 0;
  private failures = 0;
  private closed = false;

  constructor(private readonly options: SegmentReporterOptions) {
    const { TraceSegmentReportServiceClient } = require('skywalking-backend-js/lib/proto/language-agent/Tracing_grpc_pb.js');
    this.client = new TraceSegmentReportServiceClient(options.collectorAddress, this.grpc.credentials.createInsecure()) as ReportClient;
    this.timer = setInterval(() => void this.sendIfConnected(), options.flushIntervalMs).unref();
  }

  /** Queues a segment (called by the tracer as each segment ends). */
  add(segment: FinishedSegment): void {
    if (this.closed) return;
    if (this.buffer.length >= this.options.maxBufferSize) {
      this.buffer.shift();
      if (this.dropped++ % 1000 === 0) {
        this.options.logger.warn('SkyWalking segments dropped: the collector is not reachable and the buffer is full', {
          collectorAddress: this.options.collectorAddress,
          maxBufferSize: this.options.maxBufferSize,
          dropped: this.dropped,
        });
      }
    }
    this.buffer.push(segment);
  }

  /** Sends what is buffered, waiting up to `timeoutMs` for the collector; then releases the channel. */
  async close(timeoutMs = 5000): Promise<void> {
    clearInterval(this.timer);
    const deadline = Date.now() + timeoutMs;
    // A send under way gets until the deadline, then is cancelled (its segments go back to the buffer).
    if (this.sending) {
      const timer = setTimeout(() => this.inFlight?.cancel(), Math.max(0, deadline - Date.now()));
      await this.sending;
      clearTimeout(timer);
    }
    if (this.buffer.length > 0) {
      const ready = await new Promise<boolean>((resolve) => this.client.waitForReady(deadline, (error) => resolve(!error)));
      if (ready) await this.send(deadline);
      if (this.buffer.length > 0) {
        this.options.logger.warn('SkyWalking segments not sent at stop: the collector did not answer', { collectorAddress: this.options.collectorAddress, segments: this.buffer.length });
      }
    }
    this.closed = true;
    this.client.close();
  }

  private sendIfConnected(): void {
    if (this.sending || this.buffer.length === 0) return;
    // Asking for the state also makes an idle channel connect; segments wait in the buffer until it is ready.
    if (this.client.getChannel().getConnectivityState(true) !== this.grpc.connectivityState.READY) return;
    void this.send(Date.now() + 10_000);
  }

  private send(deadline: number): Promise<void> {
    const segments = this.buffer;
    this.buffer = [];
    const collection = new this.proto.SegmentCollection();
    collection.setSegmentsList(segments.map((segment) => this.toProto(segment)));
    const metadata = new this.grpc.Metadata();
    if (this.options.authentication) metadata.add('Authentication', this.options.authentication);
    this.sending = new Promise<void>((resolve) => {
      this.inFlight = this.client.collectInSync(collection, metadata, { deadline }, (error) => {
        this.sending = undefined;
        this.inFlight = undefined;
        if (error) this.sendFailed(segments, error);
        resolve();
      });
    });
    return this.sending;
  }

  /**
   * Segments the OAP could not take now go back to the buffer (oldest first, within its bound) for the next
   * attempt; ones it refused as such (a malformed or oversized message) are dropped, not sent forever.
   */
  private sendFailed(segments: FinishedSegment[], error: Error & { code?: number }): void {
    const { status } = this.grpc;
    const refused = error.code === status.INVALID_ARGUMENT || error.code === status.RESOURCE_EXHAUSTED;
    if (!refused) this.buffer = [...segments, ...this.buffer].slice(-this.options.maxBufferSize);
    if (this.failures++ % 100 === 0) {
      this.options.logger.warn(refused ? 'SkyWalking segments refused by the collector; dropped' : 'SkyWalking segments could not be sent; will retry', {
        collectorAddress: this.options.collectorAddress,
        segments: segments.length,
        error: error.message,
      });
    }
  }

  private toProto(segment: FinishedSegment): Message {
    const proto = this.proto;
    return new proto.SegmentObject()
      .setTraceid(segment.traceId)
      .setTracesegmentid(segment.segmentId)
      .setService(segment.service)
      .setServiceinstance(segment.serviceInstance)
      .setIssizelimited(segment.sizeLimited)
      .setSpansList(segment.spans.map((span) => this.spanToProto(span)));
  }

  private spanToProto(span: FinishedSpan): Message {
    const proto = this.proto;
    const pair = ([key, value]: [string, string]): Message => new proto.KeyStringValuePair().setKey(key).setValue(value);
    return new proto.SpanObject()
      .setSpanid(span.spanId)
      .setParentspanid(span.parentSpanId)
      .setStarttime(span.startTime)
      .setEndtime(span.endTime)
      .setOperationname(span.operationName)
      .setPeer(span.peer)
      .setSpantype(span.spanType === 'Entry' ? proto.SpanType.ENTRY : span.spanType === 'Exit' ? proto.SpanType.EXIT : proto.SpanType.LOCAL)
      .setSpanlayer(span.layer)
      .setComponentid(span.componentId)
      .setIserror(span.isError)
      .setSkipanalysis(false)
      .setTagsList(span.tags.map(pair))
      .setLogsList(span.logs.map((log) => new proto.Log().setTime(log.time).setDataList(log.data.map(pair))))
      .setRefsList(
        span.refs.map((ref) =>
          new proto.SegmentReference()
            .setReftype(ref.type === 'CrossProcess' ? proto.RefType.CROSSPROCESS : proto.RefType.CROSSTHREAD)
            .setTraceid(ref.traceId)
            .setParenttracesegmentid(ref.parentSegmentId)
            .setParentspanid(ref.parentSpanId)
            .setParentservice(ref.parentService)
            .setParentserviceinstance(ref.parentInstance)
            .setParentendpoint(ref.parentEndpoint)
            .setNetworkaddressusedatpeer(ref.peer),
        ),
      );
  }
}
