import { EventEmitter } from 'node:events';
import { Registry } from 'prom-client';
import { TypedMap } from '../../core/attachments.js';
import type { HandlerServices } from '../../core/chain/handler.js';
import type { ConfigLoader } from '../../core/config/loader.js';
import { Health } from '../../core/health.js';
import { HttpInterceptors } from '../../core/http/http-interceptors.js';
import { createLogger, type Logger } from '../../core/logger.js';
import { HeaderPropagation } from '../../core/propagation.js';
import { TransactionInterceptors } from '../../core/transactions.js';

/** Handler services for unit tests that build chains without a service (no Kafka: rawProducer refuses). */
export function testServices(loader: ConfigLoader, overrides: Partial<HandlerServices> & { logger?: Logger } = {}): HandlerServices {
  return {
    serviceId: 'test-service',
    logger: createLogger({ level: 'silent' }),
    config: loader,
    shared: new TypedMap(),
    extra: {},
    events: new EventEmitter(),
    metricsRegistry: new Registry(),
    rawProducer: {
      send: async () => {
        throw new Error('no Kafka in this unit test');
      },
    },
    fetch: globalThis.fetch,
    propagation: new HeaderPropagation(),
    health: new Health(async () => ({ ready: true, checks: {} })),
    transactions: new TransactionInterceptors(),
    http: new HttpInterceptors(),
    brokers: ['127.0.0.1:9092'],
    addCloseHook: () => undefined,
    ...overrides,
  };
}
