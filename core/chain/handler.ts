import type { EventEmitter } from 'node:events';
import type { Message } from 'kafkajs';
import type { Registry } from 'prom-client';
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
  /** Services handler modules publish for each other at start (e.g. a tracer, security stats), by name. */
  shared: Map<string, unknown>;
  /** The service's events: 'record' (each consumed record's outcome), 'groupJoin', 'crash', 'partitionStopped'. */
  events: EventEmitter;
  /** The prom-client registry metrics go to (the service's own when it passed one in). */
  metricsRegistry: Registry;
  /** Sends records straight to Kafka, past every chain (audit records, dead letters). Usable once started. */
  rawProducer: { send(topic: string, messages: Message[]): Promise<void> };
  /** fetch that carries the current request context's headers and caller_id to downstream HTTP calls. */
  fetch: typeof fetch;
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
  /** A transport ends a produce chain; exactly one, always last. */
  transport?: boolean;
  /**
   * The handler decodes consumed values itself from `exchange.rawValue` (e.g. Avro): the consumer then leaves
   * `exchange.value` as the raw bytes for topics whose chain holds it, instead of decoding per valueFormat.
   */
  decodesValue?: boolean;
  create: HandlerFactory<C>;
}

export function defineHandler<C = Record<string, unknown>>(module: HandlerModule<C>): HandlerModule<C> {
  return module;
}
