/**
 * What the SkyWalking tracer hands its reporter: finished trace segments in the shape of SkyWalking's
 * SegmentObject (language-agent/Tracing.proto), independent of gRPC so tests can read them directly.
 */
export type SpanType = 'Entry' | 'Exit' | 'Local';

/** Tracing.proto SpanLayer. */
export const SpanLayer = { unknown: 0, http: 3, mq: 4 } as const;

/** SkyWalking's component-libraries.yml ids for the spans light-kafka makes. */
export const ComponentId = { unknown: 0, http: 2, httpServer: 49, kafkaProducer: 40, kafkaConsumer: 41 } as const;

export interface SegmentRef {
  type: 'CrossProcess' | 'CrossThread';
  traceId: string;
  parentSegmentId: string;
  parentSpanId: number;
  parentService: string;
  parentInstance: string;
  parentEndpoint: string;
  /** The address the parent used to reach this span (network address used at peer). */
  peer: string;
}

export interface FinishedSpan {
  spanId: number;
  parentSpanId: number;
  startTime: number;
  endTime: number;
  operationName: string;
  peer: string;
  spanType: SpanType;
  layer: number;
  componentId: number;
  isError: boolean;
  tags: Array<[string, string]>;
  logs: Array<{ time: number; data: Array<[string, string]> }>;
  refs: SegmentRef[];
}

export interface FinishedSegment {
  traceId: string;
  segmentId: string;
  service: string;
  serviceInstance: string;
  spans: FinishedSpan[];
}
