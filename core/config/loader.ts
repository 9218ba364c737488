import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { LightError, reasonOf } from '../errors/light-error.js';
import { DEFAULT_CONFIG_DIR } from '../package-root.js';
import { resolvePlaceholders } from './placeholders.js';
import { ConfigSchemaValidator } from './schema-validator.js';

export interface ConfigLoaderOptions {
  /** The service's config folder, searched before the package defaults. Default: LIGHT_KAFKA_CONFIG_DIR. */
  configDir?: string;
  /** Folders searched after configDir; default: the package's config/. */
  defaultDirs?: string[];
  /** Environment for placeholders; default process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface LoadedConfig<T> {
  config: T;
  /** The file it came from, or undefined where no file exists and the schema's defaults apply. */
  file: string | undefined;
}

const EXTENSIONS = ['.yml', '.yaml', '.json'];

/**
 * light-4j style configuration: one yml per concern, looked up in the external config folder first and the
 * package defaults next; placeholders filled from values.yml, then the environment; validated on load.
 * Each file is read and validated once.
 */
export class ConfigLoader {
  readonly searchDirs: string[];
  private readonly externalDirs: number;
  private readonly env: NodeJS.ProcessEnv;
  private readonly validator = new ConfigSchemaValidator();
  private readonly cache = new Map<string, LoadedConfig<unknown>>();
  private valuesCache: Map<string, unknown> | undefined;

  constructor(options: ConfigLoaderOptions = {}) {
    this.env = options.env ?? process.env;
    const external = options.configDir ?? this.env.LIGHT_KAFKA_CONFIG_DIR;
    const defaults = options.defaultDirs ?? [DEFAULT_CONFIG_DIR];
    this.searchDirs = [...(external ? [resolve(external)] : []), ...defaults.map((dir) => resolve(dir))];
    this.externalDirs = external ? 1 : 0;
  }

  /**
   * The first file named `name` (.yml, .yaml or .json) in the search folders; `defaultDir` (a handler's own
   * folder with its default yml) is searched after the service's folder and before the package's config/.
   */
  find(name: string, defaultDir?: string): string | undefined {
    const dirs = defaultDir ? [...this.searchDirs.slice(0, this.externalDirs), resolve(defaultDir), ...this.searchDirs.slice(this.externalDirs)] : this.searchDirs;
    for (const dir of dirs) {
      for (const ext of EXTENSIONS) {
        const file = join(dir, name + ext);
        if (existsSync(file)) return file;
      }
    }
    return undefined;
  }

  /**
   * Where config `name` lives, for errors and for the files it names: the file found (or `<name>.yml` when only
   * defaults apply) and the folder relative paths resolve from (the working directory when there is no file).
   */
  locate(name: string, defaultDir?: string): { file: string; dir: string } {
    const found = this.find(name, defaultDir);
    return found ? { file: found, dir: dirname(found) } : { file: `${name}.yml`, dir: process.cwd() };
  }

  /** The folder the file `name` was found in (handler.yml's relative module paths resolve from here). */
  dirOf(name: string): string | undefined {
    const file = this.find(name);
    return file ? dirname(file) : undefined;
  }

  /**
   * Loads, resolves and validates config `name`. With `required`, a missing file is ERR13000; otherwise the
   * schema's defaults make the config.
   */
  load<T = Record<string, unknown>>(name: string, options: { schema?: object; required?: boolean; defaultDir?: string } = {}): LoadedConfig<T> {
    const cached = this.cache.get(name);
    if (cached) return cached as LoadedConfig<T>;
    const file = this.find(name, options.defaultDir);
    if (!file && options.required) {
      throw new LightError('ERR13000', { file: `${name}.yml`, searched: this.searchDirs.join(', ') });
    }
    const parsed = file ? this.readTree(file) : {};
    const resolved = resolvePlaceholders(parsed ?? {}, { values: this.values(), env: this.env }, file ?? `${name}.yml`);
    if (options.schema) this.validator.validate(resolved, options.schema, file ?? `${name}.yml (defaults)`);
    const loaded: LoadedConfig<unknown> = { config: resolved, file };
    this.cache.set(name, loaded);
    return loaded as LoadedConfig<T>;
  }

  /** values.yml as a flat map: nested keys joined with dots, so `kafka-consumer: {groupId: x}` is `kafka-consumer.groupId`. */
  values(): ReadonlyMap<string, unknown> {
    if (this.valuesCache) return this.valuesCache;
    const values = new Map<string, unknown>();
    const file = this.find('values');
    if (file) flatten(this.readTree(file), '', values);
    this.valuesCache = values;
    return values;
  }

  private readTree(file: string): unknown {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new LightError('ERR13002', { file, reason: reasonOf(error) }, { cause: error });
    }
    try {
      return file.endsWith('.json') ? JSON.parse(text) : parse(text);
    } catch (error) {
      throw new LightError('ERR13002', { file, reason: reasonOf(error) }, { cause: error });
    }
  }
}

function flatten(tree: unknown, prefix: string, into: Map<string, unknown>): void {
  if (tree === null || typeof tree !== 'object' || Array.isArray(tree)) {
    if (prefix) into.set(prefix, tree);
    return;
  }
  for (const [key, value] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${key}` : key;
    into.set(path, value);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) flatten(value, path, into);
  }
}
