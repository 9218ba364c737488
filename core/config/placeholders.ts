import { LightError } from '../errors/light-error.js';

/** Where placeholder values come from: values.yml first, then the environment. */
export interface ValueSources {
  values: ReadonlyMap<string, unknown>;
  env: NodeJS.ProcessEnv;
}

const PLACEHOLDER = /\$\{([^}:]+)(?::([^}]*))?\}/g;
const WHOLE_PLACEHOLDER = /^\$\{([^}:]+)(?::([^}]*))?\}$/;

/** light-4j's rule: upper-case the key and turn every non-alphanumeric character into `_`. */
export function envNameOf(key: string): string {
  return key.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/**
 * Fills `${key}`, `${key:default}` and `${key:?message}` in every string of a parsed config tree.
 * A string that is one placeholder and whose value comes from values.yml keeps that value's type.
 */
export function resolvePlaceholders(tree: unknown, sources: ValueSources, file: string, path = ''): unknown {
  if (typeof tree === 'string') return resolveString(tree, sources, file, path);
  if (Array.isArray(tree)) return tree.map((item, index) => resolvePlaceholders(item, sources, file, `${path}[${index}]`));
  if (tree !== null && typeof tree === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(tree)) {
      out[key] = resolvePlaceholders(value, sources, file, path ? `${path}.${key}` : key);
    }
    return out;
  }
  return tree;
}

function resolveString(text: string, sources: ValueSources, file: string, path: string): unknown {
  if (!text.includes('${')) return text;
  const whole = WHOLE_PLACEHOLDER.exec(text);
  if (whole) return lookup(whole[1]!.trim(), whole[2], sources, file, path, text);
  return text.replace(PLACEHOLDER, (placeholder, key: string, fallback: string | undefined) => {
    const value = lookup(key.trim(), fallback, sources, file, path, placeholder);
    return typeof value === 'string' ? value : JSON.stringify(value);
  });
}

function lookup(key: string, fallback: string | undefined, sources: ValueSources, file: string, path: string, placeholder: string): unknown {
  if (sources.values.has(key)) return sources.values.get(key);
  const fromEnv = sources.env[envNameOf(key)];
  if (fromEnv !== undefined) return fromEnv;
  if (fallback !== undefined && !fallback.startsWith('?')) return fallback;
  const reason = fallback?.startsWith('?') && fallback.length > 1
    ? fallback.slice(1).trim()
    : `set ${key} in values.yml or the environment variable ${envNameOf(key)}`;
  throw new LightError('ERR13003', { file, key: path || '(root)', placeholder, reason });
}
