/**
 * Choreography: a service reacting to another's events, with no orchestrator. Here a loyalty service turns every
 * deposit of the accounts service into an AwardPoints command on its own aggregate (a point per full 100 cents).
 * The command's id is derived from the event's id, so the reaction is idempotent end to end: the loyalty
 * processCommands applies it once, even if the deposit event is read twice (a restart of an at-least-once reader,
 * a replay) — the same id gets the first outcome and appends nothing.
 */
import { command, type Event, type StreamsBuilder } from '../../index.js';

export interface LoyaltyTopics {
  /** The accounts service's events (read). */
  accountEvents: string;
  /** The loyalty service's commands (written, then processed by its own processCommands). */
  loyaltyCommands: string;
}

export function awardPointsOnDeposits(builder: StreamsBuilder, topics: LoyaltyTopics): void {
  builder
    .stream<string, Event<{ amount: number }>>(topics.accountEvents)
    .filter((_key, event) => event.type === 'MoneyDeposited' && event.data.amount >= 100)
    .mapValues((event) =>
      command('AwardPoints', { type: 'Member', id: event.aggregateId }, { points: Math.floor(event.data.amount / 100) }, { id: `points-for-${event.id}`, metadata: event.metadata }),
    )
    .to(topics.loyaltyCommands);
}
