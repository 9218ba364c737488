/** The per-topic schema files a validation config names (value and optionally key). */
export interface TopicSchemas {
  value?: string;
  key?: string;
}

export const TOPIC_SCHEMAS_SCHEMA = {
  type: 'object',
  default: {},
  additionalProperties: {
    type: 'object',
    additionalProperties: false,
    properties: { value: { type: 'string', minLength: 1 }, key: { type: 'string', minLength: 1 } },
  },
} as const;
