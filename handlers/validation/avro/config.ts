import { TOPIC_SCHEMAS_SCHEMA, type TopicSchemas } from '../../../core/config/topic-schemas.js';

/** avro.yml: the Avro schema files of each topic and how they are registered. */
export interface AvroYml {
  enabled: boolean;
  autoRegister: boolean;
  compatibility: string;
  topics: Record<string, TopicSchemas>;
}

export const AVRO_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean', default: true },
    autoRegister: { type: 'boolean', default: true },
    compatibility: {
      enum: ['BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE', 'NONE'],
      default: 'BACKWARD',
    },
    topics: TOPIC_SCHEMAS_SCHEMA,
  },
} as const;
