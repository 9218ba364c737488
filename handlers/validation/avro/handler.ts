import { SchemaType, type SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { defineHandler, phasedHandler } from '../../../core/chain/handler.js';
import { LightError, reasonOf } from '../../../core/errors/light-error.js';
import type { Exchange } from '../../../core/exchange.js';
import { folderOf } from '../../../core/config/folder-of.js';
import { readReferencedFile } from '../../../core/config/referenced-file.js';
import { AVRO_SCHEMA, type AvroYml, type Compatibility, type SubjectNameStrategy } from './config.js';
import { createSchemaRegistry, registryStatus, SCHEMA_REGISTRY_SCHEMA, unavailable, type SchemaRegistryYml } from './schema-registry.js';


type Field = 'key' | 'value';

/** One configured schema: the writer schema on produce, the reader schema on consume. */
interface LocalSchema {
  file: string;
  text: string;
  type: avro.Type;
  /** The record's full name (namespace.name), for Record/TopicRecordNameStrategy and for picking a reader. */
  fullName: string | undefined;
}

/** A topic's schemas for one field and how their subjects are named. */
interface FieldSchemas {
  schemas: LocalSchema[];
  strategy: SubjectNameStrategy;
  compatibility: Compatibility;
}

const MAGIC_BYTE = 0;

/**
 * Avro in the Confluent wire format (magic byte 0, 4-byte schema id, Avro payload). Subjects follow the topic's
 * strategy: TopicNameStrategy `<topic>-value` / `<topic>-key` (the default), RecordNameStrategy `<record full
 * name>`, TopicRecordNameStrategy `<topic>-<record full name>` — the latter two let several record types share a
 * topic (`values:`). Produce: picks the value's schema (the one named by the value's `type` field, else the first
 * it is valid for), registers it (or, with autoRegister off, requires it to exist) and encodes. Consume: decodes
 * with the writer's schema from the registry, resolved to the configured reader schema of the same record name,
 * so a consumer on v1 reads records written with a compatible v2. Registry lookups are cached.
 */
export default defineHandler<AvroYml>({
  name: 'validation/avro',
  configName: 'avro',
  configSchema: AVRO_SCHEMA,
  defaultConfigDir: folderOf(import.meta.url),
  create(config, services) {
    const folder = folderOf(import.meta.url);
    const { file: configFile, dir: baseDir } = services.config.locate('avro', folder);
    const registryYml = services.config.load<SchemaRegistryYml>('schema-registry', { schema: SCHEMA_REGISTRY_SCHEMA, defaultDir: folder }).config;
    const registry: SchemaRegistry = createSchemaRegistry(registryYml, services.serviceId);

    const fields = new Map<string, FieldSchemas>(); // `${topic}-${field}`
    const load = (path: string, key: string): LocalSchema => {
      const { file, text } = readReferencedFile(path, baseDir, configFile, key);
      try {
        const type = avro.Type.forSchema(JSON.parse(text));
        return { file, text, type, fullName: type.name };
      } catch (error) {
        throw new LightError('ERR13001', { file, key: '(schema)', reason: `is not a usable Avro schema: ${reasonOf(error)}` }, { cause: error });
      }
    };
    for (const [topic, files] of Object.entries(config.topics)) {
      const strategy = files.subjectNameStrategy ?? config.subjectNameStrategy;
      const compatibility = files.compatibility ?? config.compatibility;
      const values = files.values ? files.values.map((path, index) => load(path, `topics.${topic}.values[${index}]`)) : files.value ? [load(files.value, `topics.${topic}.value`)] : [];
      if (values.length > 1 && strategy === 'TopicNameStrategy') {
        throw new LightError('ERR13001', { file: configFile ?? 'avro.yml', key: `topics.${topic}.values`, reason: 'several record types on one topic need subjectNameStrategy RecordNameStrategy or TopicRecordNameStrategy' });
      }
      if (strategy !== 'TopicNameStrategy') {
        for (const schema of values) {
          if (!schema.fullName) throw new LightError('ERR13001', { file: schema.file, key: '(schema)', reason: `is not a named record: ${strategy} names its subject after the record` });
        }
      }
      if (values.length > 0) fields.set(`${topic}-value`, { schemas: values, strategy, compatibility });
      if (files.key) fields.set(`${topic}-key`, { schemas: [load(files.key, `topics.${topic}.key`)], strategy, compatibility });
    }

    function subjectOf(topic: string, field: Field, schema: LocalSchema, strategy: SubjectNameStrategy): string {
      if (strategy === 'RecordNameStrategy') return schema.fullName!;
      if (strategy === 'TopicRecordNameStrategy') return `${topic}-${schema.fullName!}`;
      return `${topic}-${field}`;
    }

    /** The schema a value is written with: the one its `type` field names, else the first it is valid for. */
    function writerFor(value: unknown, field: Field, topic: string, configured: FieldSchemas): LocalSchema {
      const { schemas } = configured;
      if (schemas.length === 1) return schemas[0]!;
      const named = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
      const byName = typeof named === 'string' ? schemas.find((schema) => schema.fullName === named || schema.fullName?.split('.').pop() === named) : undefined;
      const chosen = byName ?? schemas.find((schema) => schema.type.isValid(value));
      if (!chosen) {
        throw new LightError('ERR11010', { field, topic, schema: schemas.map((schema) => schema.file).join(' | '), reason: `matches none of the topic's ${schemas.length} record types`, instancePath: '(root)' });
      }
      return chosen;
    }

    const registeredIds = new Map<string, Promise<number>>();
    const resolvers = new Map<string, avro.Resolver | null>();

    function schemaIdFor(subject: string, local: LocalSchema, compatibility: Compatibility): Promise<number> {
      let id = registeredIds.get(subject);
      if (!id) {
        id = lookUpOrRegister(subject, local, compatibility);
        registeredIds.set(subject, id);
        // A failure is not cached: the next record asks the registry again.
        id.catch(() => registeredIds.delete(subject));
      }
      return id;
    }

    async function lookUpOrRegister(subject: string, local: LocalSchema, compatibility: Compatibility): Promise<number> {
      const schema = { type: SchemaType.AVRO, schema: local.text } as const;
      try {
        if (config.autoRegister) {
          return (await registry.register(schema, { subject, compatibility: compatibility as never })).id;
        }
        return await registry.getRegistryIdBySchema(subject, schema);
      } catch (error) {
        const status = registryStatus(error);
        if (status === undefined || status >= 500) throw unavailable(error, registryYml.url);
        if (status === 404) throw new LightError('ERR11016', { schema: local.file, subject }, { cause: error });
        throw new LightError('ERR11015', { schema: local.file, subject, reason: reasonOf(error) }, { cause: error });
      }
    }

    async function encode(exchange: Exchange, field: Field, configured: FieldSchemas): Promise<void> {
      const value = field === 'value' ? exchange.value : exchange.key;
      if (value === null || value === undefined || Buffer.isBuffer(value)) return;
      const local = writerFor(value, field, exchange.topic, configured);
      const invalidPaths: string[] = [];
      if (!local.type.isValid(value, { errorHook: (path) => invalidPaths.push(path.join('.') || '(root)') })) {
        throw new LightError('ERR11010', { field, topic: exchange.topic, schema: local.file, reason: `invalid at ${invalidPaths.join(', ')}`, instancePath: invalidPaths[0] });
      }
      const id = await schemaIdFor(subjectOf(exchange.topic, field, local, configured.strategy), local, configured.compatibility);
      const header = Buffer.alloc(5);
      header.writeUInt8(MAGIC_BYTE, 0);
      header.writeInt32BE(id, 1);
      const bytes = Buffer.concat([header, local.type.toBuffer(value)]);
      if (field === 'value') exchange.value = bytes;
      else exchange.key = bytes;
    }

    async function decode(exchange: Exchange, field: Field, configured: FieldSchemas | undefined): Promise<void> {
      const raw = field === 'value' ? exchange.rawValue : exchange.key;
      if (raw === null) return;
      if (!Buffer.isBuffer(raw)) {
        throw new LightError('ERR11014', { field, topic: exchange.topic, id: '?', reason: 'the key is not bytes: set kafka-consumer.yml keyFormat: buffer for Avro keys' });
      }
      if (raw.length < 5 || raw[0] !== MAGIC_BYTE) {
        throw new LightError('ERR11011', { field, topic: exchange.topic, magic: raw.length === 0 ? '(empty)' : String(raw[0]) });
      }
      const id = raw.readInt32BE(1);
      let writer: avro.Type;
      try {
        writer = (await registry.getSchema(id)) as unknown as avro.Type;
      } catch (error) {
        const status = registryStatus(error);
        if (status === 404) throw new LightError('ERR11012', { field, topic: exchange.topic, id }, { cause: error });
        throw unavailable(error, registryYml.url);
      }
      // The reader of the writer's record type (several types may share the topic); with none, the writer's own schema.
      const writerName = (writer as { name?: string }).name;
      const reader = configured && (configured.schemas.length === 1 ? configured.schemas[0] : configured.schemas.find((schema) => schema.fullName === writerName));
      const resolver = reader ? resolverFor(reader, writer, id, exchange, field) : undefined;
      let decoded: unknown;
      try {
        decoded = resolver ? reader!.type.fromBuffer(raw.subarray(5), resolver) : writer.fromBuffer(raw.subarray(5));
      } catch (error) {
        throw new LightError('ERR11014', { field, topic: exchange.topic, id, reason: reasonOf(error) }, { cause: error });
      }
      if (field === 'value') exchange.value = decoded;
      else exchange.key = decoded as string;
    }

    function resolverFor(reader: LocalSchema, writer: avro.Type, id: number, exchange: Exchange, field: Field): avro.Resolver | undefined {
      const key = `${reader.file}#${id}`;
      if (!resolvers.has(key)) {
        try {
          resolvers.set(key, reader.type.createResolver(writer));
        } catch (error) {
          throw new LightError('ERR11017', { schema: reader.file, field, topic: exchange.topic, id, reason: reasonOf(error) }, { cause: error });
        }
      }
      return resolvers.get(key) ?? undefined;
    }

    return phasedHandler({
      name: 'avroSerde',
      async before(exchange) {
        for (const field of ['key', 'value'] as const) {
          const configured = fields.get(`${exchange.topic}-${field}`);
          if (exchange.direction === 'produce') {
            if (configured) await encode(exchange, field, configured);
          } else if (configured || field === 'value') {
            // Values are always decoded here (the chain takes over decoding); keys only where a schema is configured.
            await decode(exchange, field, configured);
          }
        }
      },
    });
  },
});
