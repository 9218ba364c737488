import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { createRequire } from 'node:module';
import { LightError, reasonOf } from '../../../core/errors/light-error.js';

type Middleware = NonNullable<ConstructorParameters<typeof SchemaRegistry>[0]['middlewares']>[number];
// The CommonJS build of mappersmith, the one the registry client itself runs on.
const { TimeoutMiddleware } = createRequire(import.meta.url)('mappersmith/middleware') as { TimeoutMiddleware: (ms: number) => Middleware };

/** schema-registry.yml: where the Confluent-compatible registry is and how to talk to it. */
export interface SchemaRegistryYml {
  url: string;
  username: string;
  password: string;
  timeoutMs: number;
  retries: number;
}

export const SCHEMA_REGISTRY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    url: { type: 'string', format: 'uri', default: 'http://127.0.0.1:8081' },
    username: { type: 'string', default: '' },
    password: { type: 'string', default: '' },
    timeoutMs: { type: 'integer', minimum: 1, default: 5000 },
    retries: { type: 'integer', minimum: 0, default: 2 },
  },
} as const;

export function createSchemaRegistry(config: SchemaRegistryYml, clientId: string): SchemaRegistry {
  return new SchemaRegistry({
    host: config.url,
    clientId,
    ...(config.username ? { auth: { username: config.username, password: config.password } } : {}),
    retry: { retries: config.retries, initialRetryTimeInSecs: 0.1, maxRetryTimeInSecs: 2 },
    middlewares: [TimeoutMiddleware(config.timeoutMs)],
  });
}

/** The registry's HTTP status for an answer it gave, or undefined when it could not be reached at all. */
export function registryStatus(error: unknown): number | undefined {
  const name = (error as { name?: unknown }).name;
  // The client rewraps a 404 answer as a bare ConfluentSchemaRegistryError; its subclasses refuse the schema itself.
  if (name === 'ConfluentSchemaRegistryError') return 404;
  if (typeof name === 'string' && name.startsWith('ConfluentSchemaRegistry')) return 422;
  const status = (error as { status?: unknown }).status;
  if (typeof status !== 'number') return undefined;
  // mappersmith reports a connection failure or a timeout as a response with status 400 and the socket's message.
  if (status === 400 && /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|socket|timeout|timed out/i.test(reasonOf(error))) return undefined;
  return status;
}

/** An unreachable or failing registry is ERR11013, which the consumer retries with backoff. */
export function unavailable(error: unknown, url: string): LightError {
  return new LightError('ERR11013', { url, reason: reasonOf(error) }, { cause: error });
}
