import type { Exchange } from '../exchange.js';
import type { ChainTable } from './chain-table.js';
import { compose } from './compose.js';
import type { Handler } from './handler.js';

/** The service's own code for a topic: the last handler of its consume chain. */
export type BusinessHandler = (exchange: Exchange) => Promise<void> | void;

interface Registration {
  topic: string | RegExp;
  handler: BusinessHandler;
}

/**
 * Each consumed topic's chain: the consume transport and the handler.yml handlers for it, then the business
 * handler. Composed once per topic.
 */
export class ConsumeChains {
  private readonly registrations: Registration[] = [];
  private readonly composed = new Map<string, Handler | null>();

  constructor(private readonly table: ChainTable) {}

  register(topic: string | RegExp, handler: BusinessHandler): void {
    this.registrations.push({ topic, handler });
  }

  subscriptions(): (string | RegExp)[] {
    return this.registrations.map((registration) => registration.topic);
  }

  /** The chain for a topic, or undefined if no business handler is registered for it. */
  chainFor(topic: string): Handler | undefined {
    const cached = this.composed.get(topic);
    if (cached !== undefined) return cached ?? undefined;
    const registration = this.registrations.find((candidate) =>
      typeof candidate.topic === 'string' ? candidate.topic === topic : candidate.topic.test(topic),
    );
    const route = this.table.resolve('consume', topic);
    const chain = registration ? compose([...(route?.handlers ?? []), asLastHandler(registration.handler)]) : null;
    this.composed.set(topic, chain);
    return chain ?? undefined;
  }
}

/** The business handler never sees a record whose value cannot be decoded: the value is decoded before it runs. */
function asLastHandler(business: BusinessHandler): Handler {
  return async function businessHandler(exchange: Exchange): Promise<void> {
    void exchange.value;
    await business(exchange);
  };
}
