import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { DemoTraceCollector } from '../../samples/accounts/trace-collector.js';

const require = createRequire(import.meta.url);

/** A span as either collector saw it, ids in hex. */
export interface CollectedSpan {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  /** follows-from (jaeger) or link (OpenTelemetry) targets, as span ids. */
  followsFrom: string[];
  tags: Record<string, string | number | boolean>;
}

const hex = (buffer: Buffer | undefined): string => (buffer ? buffer.toString('hex') : '');

/** A jaeger Thrift tag's value, by its declared type (thriftrw gives enum names). */
function tagValue(tag: { vType: string | number; vStr?: string; vLong?: Buffer | number[]; vBool?: boolean; vDouble?: number }): string | number | boolean {
  switch (tag.vType) {
    case 'LONG':
    case 3:
      return Number(Buffer.from(tag.vLong as Buffer).readBigInt64BE());
    case 'BOOL':
    case 2:
      return tag.vBool!;
    case 'DOUBLE':
    case 1:
      return tag.vDouble!;
    default:
      return tag.vStr ?? '';
  }
}

/**
 * Stands in for the Jaeger agent: a UDP socket on loopback that decodes the Thrift `Agent.emitBatch` messages
 * jaeger-client sends, with the IDL that ships with jaeger-client.
 */
export class JaegerAgentStub {
  readonly spans: CollectedSpan[] = [];
  packets = 0;

  private constructor(private readonly socket: Socket) {}

  static async start(): Promise<JaegerAgentStub> {
    const { Thrift } = require('thriftrw') as { Thrift: new (options: object) => Record<string, any> };
    const thriftPaths = require('jaeger-client/dist/src/thrift.js').default as { buildAgentThriftPath(): string };
    const agent = new Thrift({ entryPoint: thriftPaths.buildAgentThriftPath(), allowOptionalArguments: true, allowFilesystemAccess: true });
    const socket = createSocket('udp4');
    const stub = new JaegerAgentStub(socket);
    socket.on('message', (message: Buffer) => {
      stub.packets += 1;
      const result = agent.Agent.emitBatch.argumentsMessageRW.readFrom(message, 0);
      if (result.err) throw result.err;
      const batch = result.value.body.batch;
      for (const span of batch.spans) {
        const tags: Record<string, string | number | boolean> = {};
        for (const tag of span.tags ?? []) tags[tag.key] = tagValue(tag);
        const parent = hex(span.parentSpanId);
        stub.spans.push({
          service: batch.process.serviceName,
          name: span.operationName,
          traceId: hex(span.traceIdHigh) + hex(span.traceIdLow),
          spanId: hex(span.spanId),
          parentSpanId: /^0*$/.test(parent) ? undefined : parent,
          followsFrom: (span.references ?? []).filter((ref: { refType: number | string }) => ref.refType === 1 || ref.refType === 'FOLLOWS_FROM').map((ref: { spanId: Buffer }) => hex(ref.spanId)),
          tags,
        });
      }
    });
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    return stub;
  }

  get port(): number {
    return this.socket.address().port;
  }

  /**
   * Sends one sampled span named `sentinel` from a fresh jaeger tracer and waits until it arrived. UDP on loopback
   * keeps the order of one receiving socket's queue, so every packet a tracer flushed before this call is in
   * `spans` once it returns: an absence of spans is then a fact, not the outcome of a sleep.
   */
  async sentinel(timeoutMs = 10_000): Promise<void> {
    const { initTracer } = require('jaeger-client') as typeof import('jaeger-client');
    const tracer = initTracer(
      { serviceName: 'sentinel', sampler: { type: 'const', param: 1 }, reporter: { agentHost: '127.0.0.1', agentPort: this.port, flushIntervalMs: 10 } },
      { logger: { info: () => undefined, error: () => undefined } },
    );
    tracer.startSpan('sentinel').finish();
    await new Promise<void>((resolve) => tracer.close(() => resolve()));
    const deadline = Date.now() + timeoutMs;
    while (!this.spans.some((span) => span.service === 'sentinel')) {
      if (Date.now() > deadline) throw new Error(`the sentinel span did not reach the agent stub in ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** Stands in for an OpenTelemetry collector: the accounts demo's OTLP/HTTP (JSON) collector, its spans as CollectedSpan. */
export class OtlpHttpStub {
  private constructor(private readonly collector: DemoTraceCollector) {}

  static async start(): Promise<OtlpHttpStub> {
    return new OtlpHttpStub(await DemoTraceCollector.start());
  }

  get url(): string {
    return this.collector.url;
  }

  get spans(): CollectedSpan[] {
    return this.collector.spans.map(({ service, name, traceId, spanId, parentSpanId, links, attributes }) => ({ service, name, traceId, spanId, parentSpanId, followsFrom: links, tags: attributes }));
  }

  stop(): Promise<void> {
    return this.collector.stop();
  }
}

/** A SkyWalking segment as the collector stub decoded it (the protobuf's toObject() field names). */
export interface SkyWalkingSegment {
  traceid: string;
  tracesegmentid: string;
  service: string;
  serviceinstance: string;
  spansList: Array<{
    spanid: number;
    parentspanid: number;
    starttime: number;
    endtime: number;
    operationname: string;
    peer: string;
    spantype: number;
    spanlayer: number;
    componentid: number;
    iserror: boolean;
    tagsList: Array<{ key: string; value: string }>;
    logsList: Array<{ time: number; dataList: Array<{ key: string; value: string }> }>;
    refsList: Array<{
      reftype: number;
      traceid: string;
      parenttracesegmentid: string;
      parentspanid: number;
      parentservice: string;
      parentserviceinstance: string;
      parentendpoint: string;
      networkaddressusedatpeer: string;
    }>;
  }>;
}

/**
 * Stands in for a SkyWalking OAP's trace receiver: a gRPC server on loopback built from the service definitions
 * and messages that ship with skywalking-backend-js, keeping every segment it is sent (streamed or in sync).
 */
export class SkyWalkingCollectorStub {
  private constructor(
    private readonly server: { forceShutdown(): void },
    readonly address: string,
    readonly segments: SkyWalkingSegment[],
  ) {}

  static async start(): Promise<SkyWalkingCollectorStub> {
    const grpc = require('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
    const { TraceSegmentReportServiceService } = require('skywalking-backend-js/lib/proto/language-agent/Tracing_grpc_pb.js');
    const { Commands } = require('skywalking-backend-js/lib/proto/common/Common_pb.js');
    type Segment = { toObject(): SkyWalkingSegment };
    const segments: SkyWalkingSegment[] = [];
    const server = new grpc.Server();
    server.addService(TraceSegmentReportServiceService, {
      collect(call: NodeJS.EventEmitter, callback: (error: null, reply: unknown) => void) {
        call.on('data', (segment: Segment) => segments.push(segment.toObject()));
        call.on('end', () => callback(null, new Commands()));
      },
      collectInSync(call: { request: { getSegmentsList(): Segment[] } }, callback: (error: null, reply: unknown) => void) {
        for (const segment of call.request.getSegmentsList()) segments.push(segment.toObject());
        callback(null, new Commands());
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    return new SkyWalkingCollectorStub(server, `127.0.0.1:${port}`, segments);
  }

  /** Every span of every segment, with its segment. */
  spans(): Array<SkyWalkingSegment['spansList'][number] & { segment: SkyWalkingSegment }> {
    return this.segments.flatMap((segment) => segment.spansList.map((span) => ({ ...span, segment })));
  }

  stop(): void {
    this.server.forceShutdown();
  }
}
