import { KAFKA_CLIENT_NAMES, type KafkaClientName } from './kafka/driver.js';

/** service.yml: the service's identity and lifecycle settings. */
export interface ServiceYml {
  serviceId: string;
  stopTimeoutMs: number;
  propagatedHeaders: string[];
  transport: KafkaClientName;
}

export const SERVICE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    serviceId: { type: 'string', minLength: 1, default: 'light-kafka-service' },
    stopTimeoutMs: { type: 'integer', minimum: 0, default: 30000 },
    propagatedHeaders: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
    transport: { enum: KAFKA_CLIENT_NAMES, default: 'kafkajs' },
  },
} as const;
