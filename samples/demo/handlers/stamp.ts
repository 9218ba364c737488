import { typedKey } from '../../../core/attachments.js';
import { defineHandler } from '../../../core/chain/handler.js';

/** Where the timing handler leaves how long the rest of the chain took (ms): a typed attachment key. */
export const PROCESSING_MS = typedKey<number>('demo.processingMs');

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
      exchange.attachments.set(PROCESSING_MS, Number(process.hrtime.bigint() - started) / 1e6);
    };
  },
});
