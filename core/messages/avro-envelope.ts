/**
 * Avro schemas of the Command and Event envelopes, one record per message type (named after the type), so that
 * several types share a topic under RecordNameStrategy or TopicRecordNameStrategy and the avro handler picks each
 * value's schema by its `type`. `data` is the type's own record (`<Type>Data`) with the given fields.
 */

/** An Avro field as in a schema file: `{ name, type, default? }`. */
export interface AvroField {
  name: string;
  type: unknown;
  default?: unknown;
  doc?: string;
}

const COMMON: AvroField[] = [
  { name: 'id', type: 'string' },
  { name: 'type', type: 'string' },
  { name: 'aggregateType', type: 'string' },
  { name: 'aggregateId', type: 'string' },
  { name: 'timestamp', type: 'string' },
  { name: 'metadata', type: { type: 'map', values: 'string' }, default: {} },
];

function envelope(kind: 'command' | 'event', extra: AvroField[], options: { type: string; namespace: string; data: AvroField[]; doc?: string }): object {
  return {
    type: 'record',
    name: options.type,
    namespace: options.namespace,
    ...(options.doc ? { doc: options.doc } : {}),
    fields: [
      { name: 'kind', type: 'string', default: kind },
      ...COMMON.slice(0, 4),
      ...extra,
      ...COMMON.slice(4),
      { name: 'data', type: { type: 'record', name: `${options.type}Data`, fields: options.data } },
    ],
  };
}

/** The Avro schema of an Event envelope of one type. */
export function eventAvroSchema(options: { type: string; namespace: string; data: AvroField[]; doc?: string }): object {
  return envelope('event', [{ name: 'version', type: 'int' }], options);
}

/** The Avro schema of a Command envelope of one type (`expectedVersion` null when not set). */
export function commandAvroSchema(options: { type: string; namespace: string; data: AvroField[]; doc?: string }): object {
  return envelope('command', [{ name: 'expectedVersion', type: ['null', 'int'], default: null }], options);
}
