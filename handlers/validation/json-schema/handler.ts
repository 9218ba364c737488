import { Ajv, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { defineHandler, phasedHandler } from '../../../core/chain/handler.js';
import { addFormats } from '../../../core/config/ajv-formats.js';
import { LightError, reasonOf } from '../../../core/errors/light-error.js';
import type { Exchange } from '../../../core/exchange.js';
import { deserialize } from '../../../core/kafka/serde.js';
import { folderOf } from '../../../core/config/folder-of.js';
import { readReferencedFile } from '../../../core/config/referenced-file.js';
import { JSON_SCHEMA_CONFIG_SCHEMA, type JsonSchemaYml } from './config.js';



interface TopicValidators {
  value?: ValidateFunction;
  key?: ValidateFunction;
}

/**
 * JSON Schema validation per topic (value and optionally key), drafts 2020-12 and 07 with formats. Every schema
 * is compiled once at start; a bad schema is a startup error naming its file. A failing record is a
 * non-retryable ERR11000 (value) / ERR11001 (key) naming the instance path and keyword: on consume it goes to
 * the dead-letter topic, on produce it is thrown to the caller and nothing is sent.
 */
export default defineHandler<JsonSchemaYml>({
  name: 'validation/json-schema',
  configName: 'json-schema',
  configSchema: JSON_SCHEMA_CONFIG_SCHEMA,
  defaultConfigDir: folderOf(import.meta.url),
  create(config, services) {
    const { file: configFile, dir: baseDir } = services.config.locate('json-schema', folderOf(import.meta.url));
    const draft07 = new Ajv({ allErrors: false, strict: false });
    const draft2020 = new Ajv2020({ allErrors: false, strict: false });
    addFormats(draft07);
    addFormats(draft2020 as unknown as Ajv);

    const compile = (path: string, key: string): ValidateFunction => {
      const { file, text } = readReferencedFile(path, baseDir, configFile, key);
      try {
        const schema = JSON.parse(text) as { $schema?: string };
        const ajv = typeof schema.$schema === 'string' && schema.$schema.includes('2020-12') ? draft2020 : draft07;
        return ajv.compile(schema);
      } catch (error) {
        throw new LightError('ERR13001', { file, key: '(schema)', reason: `is not a usable JSON Schema: ${reasonOf(error)}` }, { cause: error });
      }
    };
    const validators = new Map<string, TopicValidators>();
    for (const [topic, schemas] of Object.entries(config.topics)) {
      validators.set(topic, {
        ...(schemas.value ? { value: compile(schemas.value, `topics.${topic}.value`) } : {}),
        ...(schemas.key ? { key: compile(schemas.key, `topics.${topic}.key`) } : {}),
      });
    }

    return phasedHandler({
      name: 'jsonSchemaValidation',
      before(exchange) {
        const topicValidators = validators.get(exchange.topic);
        if (topicValidators?.value) {
          exchange.value = asJson(exchange.value, exchange.topic, 'value');
          check(topicValidators.value, exchange.value, exchange, 'ERR11000');
        }
        if (topicValidators?.key) check(topicValidators.key, asJson(exchange.key, exchange.topic, 'key'), exchange, 'ERR11001');
      },
    });
  },
});

/**
 * A value in bytes (valueFormat buffer) is parsed as JSON first (malformed: ERR11004 / ERR11005). A key is
 * validated as keyFormat decoded it: text by default (keyFormat json for structured keys); bytes become text.
 */
function asJson(value: unknown, topic: string, field: 'key' | 'value'): unknown {
  if (!Buffer.isBuffer(value)) return value;
  return deserialize(value, field === 'value' ? 'json' : 'string', topic, field);
}

function check(validate: ValidateFunction, data: unknown, exchange: Exchange, code: 'ERR11000' | 'ERR11001'): void {
  if (validate(data)) return;
  const [error] = validate.errors ?? [];
  throw new LightError(code, {
    topic: exchange.topic,
    instancePath: error?.instancePath || '/',
    keyword: error?.keyword ?? 'unknown',
    reason: error?.message ?? 'is invalid',
  });
}
