import { EventEmitter } from 'node:events';
import { Registry } from 'prom-client';
import type { HandlerServices } from '../../core/chain/handler.js';
import type { ConfigLoader } from '../../core/config/loader.js';
import { createLogger, type Logger } from '../../core/logger.js';

/** Handler services for unit tests that build chains without a service (no Kafka: rawProducer refuses). */
export function testServices(loader: ConfigLoader, overrides: Partial<HandlerServices> & { logger?: Logger } = {}): HandlerServices {
  return {
    serviceId: 'test-service',
    logger: createLogger({ level: 'silent' }),
    config: loader,
    shared: new Map(),
    extra: {},
    events: new EventEmitter(),
    metricsRegistry: new Registry(),
    rawProducer: {
      send: async () => {
        throw new Error('no Kafka in this unit test');
      },
    },
    fetch: globalThis.fetch,
    addCloseHook: () => undefined,
    ...overrides,
  };
}
