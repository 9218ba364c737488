import type { Exchange } from '../exchange.js';
import { Chain, type Terminal } from './chain.js';
import type { ChainTable } from './chain-table.js';

/** The service's own code for a topic: the last handler of its consume chain, one record at a time. */
export type BusinessHandler = (exchange: Exchange) => Promise<void> | void;

/**
 * The service's own code taking the records of a fetched batch at once (as Karafka's consumers and Spring's batch
 * listeners do): the records that passed the rest of the chain, in offset order. If it throws, each of those
 * records is run again on its own (a batch of one) under the failure policy, so only the record that fails is
 * retried and dead-lettered.
 */
export type BatchBusinessHandler = (exchanges: readonly Exchange[]) => Promise<void> | void;

/** How one consumed topic's records are processed: the composed chain, and what ends it. */
export interface ConsumeRoute {
  chain: Chain;
  /** Per record: the business handler (a batch handler given a batch of one). */
  terminal: Terminal;
  /** Set when the business handler takes batches. */
  batchHandler?: BatchBusinessHandler;
}

interface Registration {
  topic: string | RegExp;
  handler: BusinessHandler | undefined;
  batchHandler: BatchBusinessHandler | undefined;
}

/**
 * Each consumed topic's chain: the consume transport and the handler.yml handlers for it, then the business
 * handler. Composed once per topic.
 */
export class ConsumeChains {
  private readonly registrations: Registration[] = [];
  private readonly composed = new Map<string, ConsumeRoute | null>();

  constructor(private readonly table: ChainTable) {}

  register(topic: string | RegExp, handler: BusinessHandler): void {
    this.registrations.push({ topic, handler, batchHandler: undefined });
  }

  registerBatch(topic: string | RegExp, handler: BatchBusinessHandler): void {
    this.registrations.push({ topic, handler: undefined, batchHandler: handler });
  }

  subscriptions(): (string | RegExp)[] {
    return this.registrations.map((registration) => registration.topic);
  }

  /** The route of a topic, or undefined if no business handler is registered for it. */
  routeFor(topic: string): ConsumeRoute | undefined {
    const cached = this.composed.get(topic);
    if (cached !== undefined) return cached ?? undefined;
    const registration = this.registrations.find((candidate) =>
      typeof candidate.topic === 'string' ? candidate.topic === topic : candidate.topic.test(topic),
    );
    const route = registration ? this.compose(topic, registration) : null;
    this.composed.set(topic, route);
    return route ?? undefined;
  }

  private compose(topic: string, registration: Registration): ConsumeRoute {
    const chain = new Chain(this.table.resolve('consume', topic)?.handlers ?? []);
    const { handler, batchHandler } = registration;
    if (batchHandler) {
      return { chain, batchHandler, terminal: (exchange) => batchHandler(decodedBatch([exchange])) };
    }
    // The business handler never sees a record whose value cannot be decoded: the value is decoded before it runs.
    const business = handler!;
    return {
      chain,
      terminal: (exchange) => {
        void exchange.value;
        return business(exchange);
      },
    };
  }
}

/** Decodes every value first, so a record that cannot be decoded fails alone, before the batch handler runs. */
export function decodedBatch(exchanges: readonly Exchange[]): readonly Exchange[] {
  for (const exchange of exchanges) void exchange.value;
  return exchanges;
}
