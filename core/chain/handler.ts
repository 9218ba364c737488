import type { EventEmitter } from 'node:events';
import type { Registry } from 'prom-client';
import type { TypedMap } from '../attachments.js';
import type { ConfigLoader } from '../config/loader.js';
import type { HttpInterceptors } from '../http/http-interceptors.js';
import type { Exchange } from '../exchange.js';
import type { HealthExposure } from '../health.js';
import type { Logger } from '../logger.js';
import type { HeaderPropagation } from '../propagation.js';
import type { RawSender } from '../transport.js';
import type { TransactionInterceptors } from '../transactions.js';

export type Next = () => Promise<void>;

/**
 * An around handler: a named function that does its part and awaits `next()` to run the rest of the chain.
 * Simple to write, but it costs a promise per record: the built-in handlers are phased handlers instead.
 */
export type Handler = (exchange: Exchange, next: Next) => Promise<void>;

/** Why the rest of the chain failed for a record (a wrapper, so that even `throw undefined` counts as a failure). */
export interface RecordFailure {
  error: unknown;
}

/**
 * A phased handler: no `next`; the chain calls its phases around the rest of the chain. A phase that returns
 * nothing costs no promise, so a chain of synchronous phases runs a record without a single microtask.
 *
 * The records of a batch (one fetched batch of a partition on consume, the records of one send call on
 * produce; a retried record is a batch of its own) share `beginBatch` and `endBatch`: work done once for the batch
 * goes there (verify each distinct token once, write one audit buffer), and what `beginBatch` returns is
 * handed to every phase of that batch as `batch`. Failures stay per record: a record whose `before` or later
 * part fails is retried or dead-lettered alone.
 */
export interface PhasedHandler<S = unknown> {
  /** Used in errors and logs. */
  readonly name: string;
  /** Once per batch, before any of its records. Must not throw for one bad record: keep its verdict for `before`. */
  beginBatch?(exchanges: readonly Exchange[]): S | Promise<S>;
  /** Per record, before the rest of the chain. Throwing fails the record; later phases of it do not run. */
  before?(exchange: Exchange, batch: S): void | Promise<void>;
  /**
   * Per record whose `before` ran, after the rest of the chain, with the failure if it failed (the failure is
   * thrown on after every `after` ran; an `after` that throws replaces it).
   */
  after?(exchange: Exchange, failure: RecordFailure | undefined, batch: S): void | Promise<void>;
  /**
   * With the records run since the batch began or since the previous call, before their offsets may be
   * committed (end of a batch, and before the consumer's interval commits). Errors are logged, records stay done.
   */
  endBatch?(exchanges: readonly Exchange[], batch: S): void | Promise<void>;
}

/** What a handler factory returns: an around handler (a function) or a phased handler (an object). */
export type ChainHandler = Handler | PhasedHandler<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function isPhasedHandler(handler: ChainHandler): handler is PhasedHandler {
  return typeof handler === 'object' && handler !== null;
}

/** Declares a phased handler with its batch state typed. */
export function phasedHandler<S = undefined>(handler: PhasedHandler<S>): PhasedHandler<S> {
  return handler;
}

/** The service's shared services, handed to every handler factory. */
export interface HandlerServices {
  serviceId: string;
  logger: Logger;
  config: ConfigLoader;
  /** What handler modules publish for each other at start (e.g. security's verification stats), under typed keys. */
  shared: TypedMap;
  /** The service's events: 'record' (each consumed record's outcome), 'deadLettered', 'groupJoin', 'crash', 'partitionStopped'. */
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
  /** HTTP hops: server interceptors run by the adapters given service.httpContext, client ones by fetch (the tracing handler's spans). */
  http: HttpInterceptors;
  /** The bootstrap brokers of the service's clients (host:port). */
  brokers: readonly string[];
  /** Work around each transaction of the transactional producer (the tracing handler opens a span). */
  transactions: TransactionInterceptors;
  /** Registers work for the end of service.stop(), after the clients stopped (e.g. flush a tracer). */
  addCloseHook(hook: () => Promise<void> | void): void;
  /** Anything the service passed in programmatically (LightService.create({ services })). */
  extra: Readonly<Record<string, unknown>>;
}

export type HandlerFactory<C = Record<string, unknown>> = (config: C, services: HandlerServices) => ChainHandler | Promise<ChainHandler>;

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
