import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { LightError } from '../../core/errors/light-error.js';

/** Reads a schema file named in a validation config, relative to that config's folder; errors name both. */
export function readSchemaFile(path: string, baseDir: string, configFile: string, key: string): { file: string; text: string } {
  const file = isAbsolute(path) ? path : resolve(baseDir, path);
  try {
    return { file, text: readFileSync(file, 'utf8') };
  } catch (error) {
    throw new LightError('ERR13001', { file: configFile, key, reason: `names ${file}, which cannot be read: ${(error as Error).message}` }, { cause: error });
  }
}

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
