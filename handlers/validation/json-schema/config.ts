import { TOPIC_SCHEMAS_SCHEMA, type TopicSchemas } from '../../../core/config/topic-schemas.js';

/** json-schema.yml: the schema files of each topic. */
export interface JsonSchemaYml {
  enabled: boolean;
  topics: Record<string, TopicSchemas>;
}

export const JSON_SCHEMA_CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: { enabled: { type: 'boolean', default: true }, topics: TOPIC_SCHEMAS_SCHEMA },
} as const;
