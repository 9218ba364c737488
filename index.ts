// The package entry: the engine (core/) with the built-in handlers (handlers/) handed to it.
import { LightService as CoreLightService } from './core/service.js';
import { BUILTIN_CATALOG } from './handlers/index.js';

export * from './core/index.js';
export { BUILTIN_HANDLERS, BUILTIN_CATALOG } from './handlers/index.js';
export { formatSw8, parseSw8, SW8_HEADER, type Sw8Context } from './handlers/tracing/skywalking/sw8.js';

/** A light-kafka service whose handler.yml can name the built-in handlers (correlation, security, ...). */
export class LightService extends CoreLightService {
  protected static override readonly handlerCatalog = BUILTIN_CATALOG;
}
