import { expect } from 'chai';
import { command, commandFingerprint, StreamsBuilder, type CommandReply, type Event } from '../../index.js';
import { decideAccount, evolveAccount, initialAccount } from '../../samples/accounts/domain.js';
import { InMemoryTopology } from '../fixtures/streams/in-memory-topology.js';

const TOPICS = { commands: 'commands', events: 'events', rejections: 'rejections', replies: 'replies' };
const account = (id: string) => ({ type: 'Account', id });
const replyTo = (key: string) => ({ topic: TOPICS.replies, key });

function bank(idempotency?: { retainCommands?: number; retainMs?: number } | false): InMemoryTopology {
  const builder = new StreamsBuilder('bank');
  builder.stream(TOPICS.commands).processCommands({ store: 'accounts', events: TOPICS.events, rejections: TOPICS.rejections, initial: initialAccount, decide: decideAccount, evolve: evolveAccount, ...(idempotency !== undefined ? { idempotency } : {}) });
  return new InMemoryTopology(builder);
}

const replies = (world: InMemoryTopology): { key: unknown; reply: CommandReply }[] => world.sentTo(TOPICS.replies).map(({ key, value }) => ({ key, reply: value as CommandReply }));
const events = (world: InMemoryTopology): Event[] => world.sentTo(TOPICS.events).map(({ value }) => value as Event);

describe('idempotent commands (processCommands)', () => {
  it('applies a command id once: a re-send gets the first outcome on its own reply channel and appends nothing', () => {
    const world = bank();
    world.input(TOPICS.commands, 'a1', command('OpenAccount', account('a1'), { owner: 'Ann' }, { id: 'open' })).drain();
    const deposit = command('DepositMoney', account('a1'), { amount: 100 }, { id: 'dep', replyTo: replyTo('client-1') });
    world.input(TOPICS.commands, 'a1', deposit).drain();
    // Re-sent later, with another timestamp, metadata and reply channel: the same command.
    world.input(TOPICS.commands, 'a1', { ...deposit, timestamp: new Date(Date.now() + 5000).toISOString(), metadata: { correlationId: 'other' }, replyTo: replyTo('client-2') }).drain();
    expect(events(world).map((event) => [event.type, event.version])).to.deep.equal([
      ['AccountOpened', 1],
      ['MoneyDeposited', 2],
    ]);
    const sent = replies(world);
    expect(sent.map(({ key }) => key)).to.deep.equal(['client-1', 'client-2']);
    for (const { reply } of sent) {
      expect(reply).to.include({ kind: 'reply', type: 'CommandAccepted', commandId: 'dep', commandType: 'DepositMoney', aggregateId: 'a1' });
      expect(reply.data).to.deep.equal({ status: 'accepted', version: 2, events: [{ id: 'dep-0', type: 'MoneyDeposited', version: 2 }] });
    }
    expect((world.store('accounts').get('a1') as { state: { balance: number } }).state.balance).to.equal(100);
  });

  it('remembers a rejection too, and refuses the id reused for a different command (IDEMPOTENCY_KEY_REUSED) keeping the first outcome', () => {
    const world = bank();
    world.input(TOPICS.commands, 'a1', command('OpenAccount', account('a1'), { owner: 'Ann' })).drain();
    const withdraw = command('WithdrawMoney', account('a1'), { amount: 50 }, { id: 'w', replyTo: replyTo('c') });
    world.input(TOPICS.commands, 'a1', withdraw).drain();
    world.input(TOPICS.commands, 'a1', command('DepositMoney', account('a1'), { amount: 500 })).drain();
    world.input(TOPICS.commands, 'a1', withdraw).drain();
    world.input(TOPICS.commands, 'a1', { ...withdraw, data: { amount: 60 } }).drain();
    world.input(TOPICS.commands, 'a1', withdraw).drain();
    expect(replies(world).map(({ reply }) => [reply.data.status, (reply.data as { code?: string }).code, reply.data.version])).to.deep.equal([
      ['rejected', 'INSUFFICIENT_FUNDS', 1],
      ['rejected', 'INSUFFICIENT_FUNDS', 1],
      ['rejected', 'IDEMPOTENCY_KEY_REUSED', 2],
      ['rejected', 'INSUFFICIENT_FUNDS', 1],
    ]);
    // One CommandRejected event (the first), nothing withdrawn.
    expect(world.sentTo(TOPICS.rejections)).to.have.length(1);
    expect(events(world).map((event) => event.type)).to.deep.equal(['AccountOpened', 'MoneyDeposited']);
  });

  it('keeps the last retainCommands ids of an aggregate, none older than retainMs; idempotency: false turns it off', () => {
    const byCount = bank({ retainCommands: 2 });
    byCount.input(TOPICS.commands, 'a1', command('OpenAccount', account('a1'), { owner: 'Ann' }, { id: 'open' })).drain();
    const first = command('DepositMoney', account('a1'), { amount: 1 }, { id: 'd1' });
    byCount.input(TOPICS.commands, 'a1', first).drain();
    byCount.input(TOPICS.commands, 'a1', first).drain();
    expect(events(byCount)).to.have.length(2);
    byCount.input(TOPICS.commands, 'a1', command('DepositMoney', account('a1'), { amount: 2 }, { id: 'd2' })).drain();
    byCount.input(TOPICS.commands, 'a1', command('DepositMoney', account('a1'), { amount: 3 }, { id: 'd3' })).drain();
    expect((byCount.store('accounts.processed').get('a1') as { commands: { id: string }[] }).commands.map(({ id }) => id)).to.deep.equal(['d2', 'd3']);
    // d1 is forgotten: a re-send now is a new command.
    byCount.input(TOPICS.commands, 'a1', first).drain();
    expect(events(byCount)).to.have.length(5);

    const byAge = bank({ retainMs: 60_000 });
    const start = Date.parse('2026-01-01T00:00:00Z');
    byAge.input(TOPICS.commands, 'a1', command('OpenAccount', account('a1'), { owner: 'Ann' }), start).drain();
    const deposit = command('DepositMoney', account('a1'), { amount: 1 }, { id: 'dep' });
    byAge.input(TOPICS.commands, 'a1', deposit, start + 1000).drain();
    byAge.input(TOPICS.commands, 'a1', deposit, start + 61_000).drain();
    expect(events(byAge)).to.have.length(2);
    byAge.input(TOPICS.commands, 'a1', deposit, start + 61_001).drain();
    expect(events(byAge)).to.have.length(3);

    const off = bank(false);
    off.input(TOPICS.commands, 'a1', command('OpenAccount', account('a1'), { owner: 'Ann' })).drain();
    off.input(TOPICS.commands, 'a1', deposit).drain();
    off.input(TOPICS.commands, 'a1', deposit).drain();
    expect(events(off)).to.have.length(3);
    expect(off.stores.has('accounts.processed')).to.equal(false);
  });

  it('fingerprints what a command asks, not how it is written: field order, timestamp, metadata and reply channel do not count', () => {
    const base = command('DepositMoney', account('a1'), { amount: 5, note: { a: 1, b: 2 } }, { id: 'x' });
    const same = { ...base, data: { note: { b: 2, a: 1 }, amount: 5 }, timestamp: 'later', metadata: { callerId: 'other' }, replyTo: replyTo('k') };
    expect(commandFingerprint(same)).to.equal(commandFingerprint(base));
    expect(commandFingerprint({ ...base, data: { amount: 6, note: { a: 1, b: 2 } } })).to.not.equal(commandFingerprint(base));
    expect(commandFingerprint({ ...base, expectedVersion: 3 })).to.not.equal(commandFingerprint(base));
    expect(commandFingerprint({ ...base, aggregateId: 'a2' })).to.not.equal(commandFingerprint(base));
  });
});
