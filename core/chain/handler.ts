import type { Exchange } from '../exchange.js';
import type { Logger } from '../logger.js';
import type { ConfigLoader } from '../config/loader.js';

export type Next = () => Promise<void>;

/** A handler: a named async function that does its part and awaits `next()` to run the rest of the chain. */
export type Handler = (exchange: Exchange, next: Next) => Promise<void>;

/** The service's shared services, handed to every handler factory. Later concerns add their own fields. */
export interface HandlerServices {
  serviceId: string;
  logger: Logger;
  config: ConfigLoader;
  /** Services a handler module publishes for others (e.g. a tracer, a metrics registry), by name. */
  shared: ReadonlyMap<string, unknown>;
  /** Anything the service passed in programmatically (LightService.create({ services })). */
  extra: Readonly<Record<string, unknown>>;
}

export type HandlerFactory<C = Record<string, unknown>> = (config: C, services: HandlerServices) => Handler | Promise<Handler>;

/**
 * What a handler module exports (as `default`, or as a named export for `package#export`).
 * A bare factory function is accepted as well: its config file is then the module name, unchecked.
 */
export interface HandlerModule<C = Record<string, unknown>> {
  /** Used in errors and logs. */
  name: string;
  /** The yml file (without extension) holding this handler's config; none when omitted. */
  configName?: string;
  /** JSON Schema the config is validated against (ajv, defaults applied). */
  configSchema?: object;
  /** A transport ends a produce chain; exactly one, always last. */
  transport?: boolean;
  create: HandlerFactory<C>;
}

export function defineHandler<C = Record<string, unknown>>(module: HandlerModule<C>): HandlerModule<C> {
  return module;
}
