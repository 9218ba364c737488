import type { HandlerCatalog } from '../core/chain/module-loader.js';

/**
 * The built-in handlers by short name, which the package entry hands to the engine. Each is imported only when
 * a handler.yml names it, so a service pays only for the concerns it uses.
 */
export const BUILTIN_HANDLERS: Readonly<Record<string, () => Promise<unknown>>> = {
  'kafka/producer': () => import('./kafka/producer.js'),
  'kafka/consumer': () => import('./kafka/consumer.js'),
  correlation: () => import('./correlation/handler.js'),
  security: () => import('./security/handler.js'),
  audit: () => import('./audit/handler.js'),
  metrics: () => import('./metrics/handler.js'),
  tracing: () => import('./tracing/handler.js'),
  'validation/json-schema': () => import('./validation/json-schema/handler.js'),
  'validation/avro': () => import('./validation/avro/handler.js'),
};

export const BUILTIN_CATALOG: HandlerCatalog = { builtins: BUILTIN_HANDLERS, consumeTransport: 'kafka/consumer' };
