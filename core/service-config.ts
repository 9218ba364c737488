/** service.yml: the service's identity and lifecycle settings. */
export interface ServiceYml {
  serviceId: string;
  stopTimeoutMs: number;
  propagatedHeaders: string[];
}

export const SERVICE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    serviceId: { type: 'string', minLength: 1, default: 'light-kafka-service' },
    stopTimeoutMs: { type: 'integer', minimum: 0, default: 30000 },
    propagatedHeaders: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
  },
} as const;
