export interface TracingYml {
  enabled: boolean;
  tracer: 'jaeger' | 'opentelemetry' | 'skywalking' | 'provided';
  serviceName: string;
  sampler: { type: 'const' | 'probabilistic' | 'ratelimiting'; param: number };
  reporter: { agentHost: string; agentPort: number; collectorEndpoint: string; flushIntervalMs: number; logSpans: boolean };
  otlp: { endpoint: string; headers: Record<string, string> };
  skywalking: { collectorAddress: string; serviceInstance: string; authentication: string; maxBufferSize: number; spanLimitPerSegment: number };
  /** Spans for HTTP requests served through service.httpContext and calls made with service.fetch. */
  http: boolean;
  tags: Record<string, string>;
  tagNames: TagNames;
}

export interface TagNames {
  system: string;
  destination: string;
  partition: string;
  offset: string;
  consumerGroup: string;
  key: string;
  /** The address of the other side: the bootstrap broker of a Kafka span, the host of an HTTP call, the client of a request. */
  peer: string;
  operation: string;
  correlationId: string;
  traceabilityId: string;
  statusCode: string;
  errorCode: string;
  /** On a batch's process span: how many records it stands for. */
  batchCount: string;
}

export const DEFAULT_TAG_NAMES: TagNames = {
  system: 'messaging.system',
  destination: 'messaging.destination.name',
  partition: 'messaging.kafka.destination.partition',
  offset: 'messaging.kafka.message.offset',
  consumerGroup: 'messaging.kafka.consumer.group',
  key: 'messaging.kafka.message.key',
  peer: 'peer.address',
  operation: 'messaging.operation',
  correlationId: 'correlation_id',
  traceabilityId: 'traceability_id',
  statusCode: 'status_code',
  errorCode: 'error_code',
  batchCount: 'messaging.batch.message_count',
};

const tagNameProperties = Object.fromEntries(Object.entries(DEFAULT_TAG_NAMES).map(([key, value]) => [key, { type: 'string', minLength: 1, default: value }]));

export const TRACING_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean', default: true },
    tracer: { enum: ['jaeger', 'opentelemetry', 'skywalking', 'provided'], default: 'jaeger' },
    serviceName: { type: 'string', default: '' },
    sampler: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { type: { enum: ['const', 'probabilistic', 'ratelimiting'], default: 'const' }, param: { type: 'number', minimum: 0, default: 1 } },
    },
    reporter: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        agentHost: { type: 'string', default: '127.0.0.1' },
        agentPort: { type: 'integer', minimum: 1, maximum: 65535, default: 6832 },
        collectorEndpoint: { type: 'string', default: '' },
        flushIntervalMs: { type: 'integer', minimum: 1, default: 1000 },
        logSpans: { type: 'boolean', default: false },
      },
    },
    otlp: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        endpoint: { type: 'string', default: 'http://127.0.0.1:4318/v1/traces' },
        headers: { type: 'object', additionalProperties: { type: 'string' }, default: {} },
      },
    },
    skywalking: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        // host:port, or [IPv6]:port
        collectorAddress: { type: 'string', pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[^\\s:/\\[\\]]+):\\d{1,5}$', default: '127.0.0.1:11800' },
        serviceInstance: { type: 'string', default: '' },
        authentication: { type: 'string', default: '' },
        maxBufferSize: { type: 'integer', minimum: 1, default: 1000 },
        spanLimitPerSegment: { type: 'integer', minimum: 1, default: 300 },
      },
    },
    http: { type: 'boolean', default: true },
    tags: { type: 'object', additionalProperties: { type: 'string' }, default: {} },
    tagNames: { type: 'object', additionalProperties: false, default: {}, properties: tagNameProperties },
  },
} as const;
