import type { Exchange } from '../exchange.js';
import { Chain } from './chain.js';
import type { ChainHandler, Handler } from './handler.js';

/**
 * Composes handlers (around or phased) into one around handler that runs them in order, each record as a batch
 * of its own. The input is validated once here. The consumer and producer run a Chain directly instead, so the
 * records of a batch share their batch phases and synchronous handlers cost no promise.
 */
export function compose(handlers: readonly ChainHandler[]): Handler {
  if (!Array.isArray(handlers)) throw new TypeError('compose expects an array of handlers');
  const chain = new Chain(handlers);
  return async function composedChain(exchange: Exchange, next?: () => Promise<void>): Promise<void> {
    const batch = [exchange];
    const scope = await chain.beginBatch(batch);
    try {
      await chain.run(exchange, next ?? endOfChain, scope);
    } finally {
      await chain.endBatch(batch, scope);
    }
  };
}

async function endOfChain(): Promise<void> {}
