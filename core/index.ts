// The public API of light-kafka.
export { LightService, type LightServiceOptions } from './service.js';
export { LightProducer, LightTransaction, TransactionalProducer } from './producer.js';
export { LightConsumer, type ConsumedEvent } from './consumer.js';
export type { BusinessHandler } from './consume-chains.js';
export { compose } from './chain/compose.js';
export { defineHandler, type Handler, type HandlerFactory, type HandlerModule, type HandlerServices, type Next } from './chain/handler.js';
export { Exchange, type Direction, type OutgoingRecord, type RecordMetadata } from './exchange.js';
export { RecordHeaders, HeaderNames, DeadLetterHeaderNames, type HeaderValue } from './headers.js';
export { LightError, type Status, type ErrorArgs } from './errors/light-error.js';
export { STATUS_CATALOGUE, STATUS_CODES, type StatusCode, type StatusDefinition } from './errors/catalogue.js';
export { ConfigLoader, type ConfigLoaderOptions, type LoadedConfig } from './config/loader.js';
export { envNameOf } from './config/placeholders.js';
export { createLogger, type Logger, type LogLevel } from './logger.js';
export { currentContext, runWithContext, type RequestContext } from './request-context.js';
export type { RecordOutcome } from '../handlers/kafka/record-processor.js';
