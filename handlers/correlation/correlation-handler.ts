import { randomUUID } from 'node:crypto';
import { Attachment } from '../../core/attachments.js';
import { defineHandler } from '../../core/chain/handler.js';
import type { Exchange } from '../../core/exchange.js';
import { currentContext } from '../../core/request-context.js';

export interface CorrelationYml {
  enabled: boolean;
  autogenCorrelationID: boolean;
  correlationIdHeader: string;
  traceabilityIdHeader: string;
  callerIdHeader: string;
  setCallerId: boolean;
  callerId: string;
}

export const CORRELATION_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean', default: true },
    autogenCorrelationID: { type: 'boolean', default: true },
    correlationIdHeader: { type: 'string', minLength: 1, default: 'X-Correlation-Id' },
    traceabilityIdHeader: { type: 'string', minLength: 1, default: 'X-Traceability-Id' },
    callerIdHeader: { type: 'string', minLength: 1, default: 'caller_id' },
    setCallerId: { type: 'boolean', default: true },
    callerId: { type: 'string', default: '' },
  },
} as const;

/**
 * X-Correlation-Id / X-Traceability-Id / caller_id. Produce: copies the ids from the request context onto the
 * record, generates a correlation id where none exists (once per unit of work: it goes back into the context),
 * and writes this service's id as caller_id. Consume: generates a missing correlation id the same way and
 * leaves the caller's id on the exchange. Both: a logger with the ids bound.
 */
export default defineHandler<CorrelationYml>({
  name: 'correlation',
  configName: 'correlation',
  configSchema: CORRELATION_SCHEMA,
  create(config, services) {
    const callerId = config.callerId || services.serviceId;
    const idHeaders = [config.correlationIdHeader, config.traceabilityIdHeader];

    function ensureCorrelationId(exchange: Exchange): void {
      const context = currentContext();
      if (exchange.direction === 'produce' && context) {
        for (const name of idHeaders) {
          const value = context.headers.getBuffer(name);
          if (value && !exchange.headers.has(name)) exchange.headers.set(name, value);
        }
      }
      if (!exchange.headers.has(config.correlationIdHeader) && config.autogenCorrelationID) {
        const generated = randomUUID();
        exchange.headers.set(config.correlationIdHeader, generated);
        // Later records of the same unit of work, and downstream HTTP calls, keep this one id.
        context?.headers.set(config.correlationIdHeader, generated);
      } else if (exchange.direction === 'consume' && context && !context.headers.has(config.correlationIdHeader)) {
        const value = exchange.headers.getBuffer(config.correlationIdHeader);
        if (value) context.headers.set(config.correlationIdHeader, value);
      }
    }

    return async function correlation(exchange, next) {
      ensureCorrelationId(exchange);
      if (exchange.direction === 'produce') {
        if (config.setCallerId) exchange.headers.set(config.callerIdHeader, callerId);
        exchange.attachments.set(Attachment.callerId, callerId);
      } else {
        exchange.attachments.set(Attachment.callerId, exchange.headers.get(config.callerIdHeader));
      }
      exchange.attachments.set(
        Attachment.logger,
        services.logger.child({
          correlationId: exchange.headers.get(config.correlationIdHeader),
          traceabilityId: exchange.headers.get(config.traceabilityIdHeader),
        }),
      );
      await next();
    };
  },
});
