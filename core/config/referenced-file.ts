import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { LightError } from '../errors/light-error.js';

/**
 * Reads a file a config names (a schema, a key), relative to that config's folder. A missing or unreadable
 * file is ERR13001 naming the config file, the key and the path tried.
 */
export function readReferencedFile(path: string, baseDir: string, configFile: string, key: string): { file: string; text: string } {
  const file = isAbsolute(path) ? path : resolve(baseDir, path);
  try {
    return { file, text: readFileSync(file, 'utf8') };
  } catch (error) {
    throw new LightError('ERR13001', { file: configFile, key, reason: `names ${file}, which cannot be read: ${(error as Error).message}` }, { cause: error });
  }
}
