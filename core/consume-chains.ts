import { compose } from './chain/compose.js';
import type { ChainTable } from './chain/chain-table.js';
import type { Handler } from './chain/handler.js';
import type { Exchange } from './exchange.js';

/** The service's own code for a topic: the last handler of its consume chain. */
export type BusinessHandler = (exchange: Exchange) => Promise<void> | void;

/** A consumed topic's composed chain, and whether a handler in it decodes the value itself. */
export interface ConsumeChain {
  handler: Handler;
  decodesValue: boolean;
}

interface Registration {
  topic: string | RegExp;
  handler: BusinessHandler;
}

/** Each consumed topic's chain: the handler.yml handlers for it, then the business handler. Composed once per topic. */
export class ConsumeChains {
  private readonly registrations: Registration[] = [];
  private readonly composed = new Map<string, ConsumeChain | null>();

  constructor(private readonly table: ChainTable) {}

  register(topic: string | RegExp, handler: BusinessHandler): void {
    this.registrations.push({ topic, handler });
  }

  subscriptions(): (string | RegExp)[] {
    return this.registrations.map((registration) => registration.topic);
  }

  /** The chain for a topic, or undefined if no business handler is registered for it. */
  chainFor(topic: string): ConsumeChain | undefined {
    const cached = this.composed.get(topic);
    if (cached !== undefined) return cached ?? undefined;
    const registration = this.registrations.find((candidate) =>
      typeof candidate.topic === 'string' ? candidate.topic === topic : candidate.topic.test(topic),
    );
    const route = this.table.resolve('consume', topic);
    const chain = registration
      ? { handler: compose([...(route?.handlers ?? []), asLastHandler(registration.handler)]), decodesValue: route?.decodesValue ?? false }
      : null;
    this.composed.set(topic, chain);
    return chain ?? undefined;
  }
}

function asLastHandler(business: BusinessHandler): Handler {
  return async function businessHandler(exchange: Exchange): Promise<void> {
    await business(exchange);
  };
}
