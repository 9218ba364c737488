import type { EventEmitter } from 'node:events';
import type { Registry } from 'prom-client';
import type { TypedMap } from '../attachments.js';
import type { ConfigLoader } from '../config/loader.js';
import type { Exchange } from '../exchange.js';
import type { HealthExposure } from '../health.js';
import type { Logger } from '../logger.js';
import type { HeaderPropagation } from '../propagation.js';
import type { RawSender } from '../transport.js';
import type { TransactionInterceptors } from '../transactions.js';

export type Next = () => Promise<void>;

/** A handler: a named async function that does its part and awaits `next()` to run the rest of the chain. */
export type Handler = (exchange: Exchange, next: Next) => Promise<void>;

/** The service's shared services, handed to every handler factory. */
export interface HandlerServices {
  serviceId: string;
  logger: Logger;
  config: ConfigLoader;
  /** What handler modules publish for each other at start (e.g. security's verification stats), under typed keys. */
  shared: TypedMap;
  /** The service's events: 'record' (each consumed record's outcome), 'groupJoin', 'crash', 'partitionStopped'. */
  events: EventEmitter;
  /** The prom-client registry metrics go to (the service's own when it passed one in). */
  metricsRegistry: Registry;
  /** Sends records straight to Kafka, past every chain (audit records). Usable once started. */
  rawProducer: RawSender;
  /** fetch that carries the current request context's headers and caller_id to downstream HTTP calls. */
  fetch: typeof fetch;
  /** The headers a unit of work carries on; a handler that writes headers under other names adds them here. */
  propagation: HeaderPropagation;
  /** Where a handler exposes the /metrics and health server (the metrics handler does). */
  health: HealthExposure;
  /** Work around each transaction of the transactional producer (the tracing handler opens a span). */
  transactions: TransactionInterceptors;
  /** Registers work for the end of service.stop(), after the clients stopped (e.g. flush a tracer). */
  addCloseHook(hook: () => Promise<void> | void): void;
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
  /** Folder holding the handler's default yml (`<configName>.yml`), searched after the service's config folder. */
  defaultConfigDir?: string;
  /**
   * A transport moves records between the chain and Kafka: a produce transport ends every produce chain
   * (`true` means 'produce'); a consume transport begins every consume chain and decodes what it read.
   * See core/transport.ts for what each must do.
   */
  transport?: boolean | 'produce' | 'consume';
  create: HandlerFactory<C>;
}

export function defineHandler<C = Record<string, unknown>>(module: HandlerModule<C>): HandlerModule<C> {
  return module;
}

/** 'produce', 'consume' or undefined: which transport a module is, if any. */
export function transportKind(module: Pick<HandlerModule, 'transport'>): 'produce' | 'consume' | undefined {
  if (module.transport === true) return 'produce';
  return module.transport || undefined;
}
