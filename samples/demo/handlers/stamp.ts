import { defineHandler } from '../../../core/chain/handler.js';

/** A custom produce handler: stamps each outgoing record with a header whose value comes from stamp.yml. */
export default defineHandler<{ stamp: string }>({
  name: 'stamp',
  configSchema: { type: 'object', required: ['stamp'], properties: { stamp: { type: 'string' } } },
  create(config) {
    return async function stamp(exchange, next) {
      exchange.headers.set('x-demo-stamp', config.stamp);
      await next();
    };
  },
});

/** A custom consume handler: measures how long the rest of the chain took. */
export const timing = defineHandler({
  name: 'timing',
  create() {
    return async function timing(exchange, next) {
      const started = process.hrtime.bigint();
      await next();
      exchange.attachments.set('processingMs', Number(process.hrtime.bigint() - started) / 1e6);
    };
  },
});
