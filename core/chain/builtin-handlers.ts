/**
 * Built-in handlers by short name. Each is imported only when a handler.yml names it, so a service pays
 * only for the concerns it uses.
 */
export const BUILTIN_HANDLERS: Readonly<Record<string, () => Promise<unknown>>> = {
  'kafka/producer': () => import('../../handlers/kafka/producer-handler.js'),
  correlation: () => import('../../handlers/correlation/correlation-handler.js'),
  security: () => import('../../handlers/security/security-handler.js'),
  audit: () => import('../../handlers/audit/audit-handler.js'),
  metrics: () => import('../../handlers/metrics/metrics-handler.js'),
  tracing: () => import('../../handlers/tracing/tracing-handler.js'),
  'validation/json-schema': () => import('../../handlers/validation/json-schema-handler.js'),
  'validation/avro': () => import('../../handlers/validation/avro-handler.js'),
};

export function isBuiltinHandler(name: string): boolean {
  return Object.hasOwn(BUILTIN_HANDLERS, name);
}
