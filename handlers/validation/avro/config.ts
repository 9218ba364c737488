/** The subject a schema is registered under (Confluent's strategies). */
export type SubjectNameStrategy = 'TopicNameStrategy' | 'RecordNameStrategy' | 'TopicRecordNameStrategy';

export type Compatibility = 'BACKWARD' | 'BACKWARD_TRANSITIVE' | 'FORWARD' | 'FORWARD_TRANSITIVE' | 'FULL' | 'FULL_TRANSITIVE' | 'NONE';

/** One topic's Avro schemas: one value schema, or several record types on one topic (`values`), and a key schema. */
export interface AvroTopic {
  value?: string;
  values?: string[];
  key?: string;
  subjectNameStrategy?: SubjectNameStrategy;
  compatibility?: Compatibility;
}

/** avro.yml: the Avro schema files of each topic and how they are registered. */
export interface AvroYml {
  enabled: boolean;
  autoRegister: boolean;
  compatibility: Compatibility;
  subjectNameStrategy: SubjectNameStrategy;
  topics: Record<string, AvroTopic>;
}

const COMPATIBILITY = { enum: ['BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE', 'NONE'] } as const;
const STRATEGY = { enum: ['TopicNameStrategy', 'RecordNameStrategy', 'TopicRecordNameStrategy'] } as const;
const FILE = { type: 'string', minLength: 1 } as const;

export const AVRO_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean', default: true },
    autoRegister: { type: 'boolean', default: true },
    compatibility: { ...COMPATIBILITY, default: 'BACKWARD' },
    subjectNameStrategy: { ...STRATEGY, default: 'TopicNameStrategy' },
    topics: {
      type: 'object',
      default: {},
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          value: FILE,
          values: { type: 'array', minItems: 1, items: FILE },
          key: FILE,
          subjectNameStrategy: STRATEGY,
          compatibility: COMPATIBILITY,
        },
        not: { required: ['value', 'values'] },
      },
    },
  },
} as const;
