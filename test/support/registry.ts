import { ensureRegistry, type RegistryHandle } from '../../scripts/registry-local.js';

/**
 * The real schema registry (Apicurio Registry 2.4.2, Confluent-compatible API), started on first use by the tests
 * that need it (SCHEMA_REGISTRY_URL, one already answering, or one built and started here) and stopped after the
 * run if this run started it. Those tests are tagged @broker too, so `npm run test:unit` never builds it.
 */
let registry: Promise<RegistryHandle> | undefined;

export function useRegistry(): Promise<string> {
  if (process.env.LIGHT_KAFKA_UNIT) return Promise.reject(new Error('this test needs the schema registry: tag it @broker'));
  registry ??= ensureRegistry({ log: (line) => process.stderr.write(`[registry-local] ${line}\n`) });
  return registry.then((handle) => handle.url);
}

export async function releaseRegistry(): Promise<void> {
  if (!registry) return;
  const handle = await registry.catch(() => undefined);
  registry = undefined;
  if (handle?.owned && !process.env.LIGHT_KAFKA_KEEP_BROKER) await handle.stop();
}
