import { Chain } from './chain.js';
import type { ChainTable } from './chain-table.js';
import { LightError } from '../errors/light-error.js';

/** The composed produce chain of each topic, composed on first use and kept. */
export class ProduceChains {
  private readonly composed = new Map<string, Chain>();

  constructor(private readonly table: ChainTable) {}

  chainFor(topic: string): Chain {
    const cached = this.composed.get(topic);
    if (cached) return cached;
    const route = this.table.resolve('produce', topic);
    if (!route) throw new LightError('ERR13010', { direction: 'produce', topic });
    const chain = new Chain(route.handlers);
    this.composed.set(topic, chain);
    return chain;
  }
}
