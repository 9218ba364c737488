import { randomUUID } from 'node:crypto';
import { Attachment, Shared } from '../../core/attachments.js';
import { defineHandler, phasedHandler } from '../../core/chain/handler.js';
import { folderOf } from '../../core/config/folder-of.js';
import type { Exchange } from '../../core/exchange.js';
import { identityFromHeaders, type IdentityHeaderNames } from '../../core/identity.js';
import { contextHasHeader, currentContext } from '../../core/request-context.js';
import { CORRELATION_SCHEMA, type CorrelationYml } from './config.js';

/**
 * X-Correlation-Id / X-Traceability-Id / caller_id. Produce: copies the ids from the request context onto the
 * record, generates a correlation id where none exists (once per unit of work: it goes back into the context),
 * and writes this service's id as caller_id. Consume: generates a missing correlation id the same way and
 * keeps the caller's id. Both: publishes the resolved ids as the exchange's identity (Attachment.identity), which
 * tracing, security, metrics and audit read, and a logger with the ids bound.
 */
export default defineHandler<CorrelationYml>({
  name: 'correlation',
  configName: 'correlation',
  configSchema: CORRELATION_SCHEMA,
  defaultConfigDir: folderOf(import.meta.url),
  create(config, services) {
    const callerId = config.callerId || services.serviceId;
    const names: IdentityHeaderNames = {
      correlationId: config.correlationIdHeader,
      traceabilityId: config.traceabilityIdHeader,
      callerId: config.callerIdHeader,
    };
    services.shared.set(Shared.identityHeaders, names);
    const idHeaders = [config.correlationIdHeader, config.traceabilityIdHeader];
    // Renamed ids must still be taken from incoming requests and records into the unit of work.
    services.propagation.add(...idHeaders);

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
      } else if (exchange.direction === 'consume' && context && !contextHasHeader(context, config.correlationIdHeader)) {
        const value = exchange.headers.getBuffer(config.correlationIdHeader);
        if (value) context.headers.set(config.correlationIdHeader, value);
      }
    }

    return phasedHandler({
      name: 'correlation',
      before(exchange) {
        ensureCorrelationId(exchange);
        if (exchange.direction === 'produce' && config.setCallerId) exchange.headers.set(config.callerIdHeader, callerId);
        const identity = identityFromHeaders(exchange.headers, names);
        if (exchange.direction === 'produce') identity.callerId = callerId;
        exchange.attachments.set(Attachment.identity, identity);
        exchange.attachments.set(Attachment.logger, services.logger.child({ correlationId: identity.correlationId, traceabilityId: identity.traceabilityId }));
      },
    });
  },
});
