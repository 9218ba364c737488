import { LightError } from '../errors/light-error.js';
import type { Exchange } from '../exchange.js';
import type { Handler } from './handler.js';

/**
 * Composes handlers into one handler that runs them in order. The input is validated once here, so the
 * per-record path does no checks but the guard against a second `next()`.
 */
export function compose(handlers: readonly Handler[]): Handler {
  if (!Array.isArray(handlers)) throw new TypeError('compose expects an array of handlers');
  for (const [index, handler] of handlers.entries()) {
    if (typeof handler !== 'function') throw new TypeError(`compose: handler at index ${index} is not a function`);
  }
  const chain = handlers.slice();

  return function composedChain(exchange: Exchange, next?: () => Promise<void>): Promise<void> {
    let lastIndex = -1;
    function dispatch(index: number): Promise<void> {
      if (index <= lastIndex) {
        const name = chain[index - 1]?.name || `#${index - 1}`;
        return Promise.reject(new LightError('ERR10011', { handler: name }));
      }
      lastIndex = index;
      const handler = index === chain.length ? next : chain[index];
      if (!handler) return Promise.resolve();
      try {
        return Promise.resolve(handler(exchange, () => dispatch(index + 1)));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return dispatch(0);
  };
}
