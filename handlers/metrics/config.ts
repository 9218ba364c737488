export interface MetricsYml {
  enabled: boolean;
  prefix: string;
  collectDefaultMetrics: boolean;
  durationBuckets: number[];
  server: { enabled: boolean; host: string; port: number };
  brokerCheckTimeoutMs: number;
}

export const METRICS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean', default: true },
    prefix: { type: 'string', pattern: '^[a-zA-Z_:][a-zA-Z0-9_:]*$', default: 'light_kafka_' },
    collectDefaultMetrics: { type: 'boolean', default: false },
    durationBuckets: { type: 'array', items: { type: 'number', exclusiveMinimum: 0 }, default: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5] },
    server: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: false },
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 8081 },
      },
    },
    brokerCheckTimeoutMs: { type: 'integer', minimum: 100, default: 2000 },
  },
} as const;
