/**
 * What the SkyWalking tracer hands its reporter: finished trace segments in the shape of SkyWalking's
 * SegmentObject (language-agent/Tracing.proto), independent of gRPC so tests can read them directly.
 */
import type { Sw8Context } from './sw8.js';

export type SpanType = 'Entry' | 'Exit' | 'Local';

/** Tracing.proto SpanLayer. */
export const SpanLayer = { unknown: 0, http: 3, mq: 4 } as const;

/** SkyWalking's component-libraries.yml ids for the spans light-kafka makes. */
export const ComponentId = { unknown: 0, http: 2, httpServer: 49, kafkaProducer: 40, kafkaConsumer: 41 } as const;

/** A reference to the parent span in another segment: what an `sw8` names (parentSpanId, parentEndpoint, ...). */
export interface SegmentRef extends Omit<Sw8Context, 'sampled'> {
  type: 'CrossProcess' | 'CrossThread';
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
  /** Spans were left out (the tracer's span limit per segment). */
  sizeLimited: boolean;
}
