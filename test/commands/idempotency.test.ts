import { expect } from 'chai';
import { command, commandFingerprint, processedCommandKey, StreamsBuilder, type Command, type CommandReply, type Event } from '../../index.js';
import { decideAccount, evolveAccount, initialAccount } from '../../samples/accounts/domain.js';
import { TopologyTestDriver } from '../../testing/index.js';
import { awardPointsOnDeposits } from '../../samples/transfers/choreography.js';

const TOPICS = { commands: 'commands', events: 'events', rejections: 'rejections', replies: 'replies' };
const account = (id: string) => ({ type: 'Account', id });
const replyTo = (key: string) => ({ topic: TOPICS.replies, key });

/** The accounts command processor in a test driver; send(command, timestamp?) pipes a command keyed by its aggregate. */
function bank(idempotency?: { retainMs?: number } | false, wallClockMs?: number): { driver: TopologyTestDriver; stores: string[]; send(value: Command, timestamp?: number): void } {
  const builder = new StreamsBuilder('bank');
  builder.stream(TOPICS.commands).processCommands({ store: 'accounts', events: TOPICS.events, rejections: TOPICS.rejections, initial: initialAccount, decide: decideAccount, evolve: evolveAccount, ...(idempotency !== undefined ? { idempotency } : {}) });
  const topology = builder.build();
  const driver = new TopologyTestDriver(topology, wallClockMs !== undefined ? { wallClockMs } : {});
  return { driver, stores: [...topology.stores.keys()], send: (value, timestamp = Date.now()) => void driver.pipe(TOPICS.commands, value, value.aggregateId, String(timestamp)) };
}

const replies = (world: ReturnType<typeof bank>): { key: unknown; reply: CommandReply }[] => world.driver.output(TOPICS.replies).map(({ key, value }) => ({ key, reply: value as CommandReply }));
const events = (world: ReturnType<typeof bank>): Event[] => world.driver.output(TOPICS.events).map(({ value }) => value as Event);

describe('idempotent commands (processCommands)', () => {
  it('applies a command id once: a re-send gets the first outcome on its own reply channel and appends nothing', () => {
    const world = bank();
    world.send(command('OpenAccount', account('a1'), { owner: 'Ann' }, { id: 'open' }));
    const deposit = command('DepositMoney', account('a1'), { amount: 100 }, { id: 'dep', replyTo: replyTo('client-1') });
    world.send(deposit);
    // Re-sent later, with another timestamp, metadata and reply channel: the same command.
    world.send({ ...deposit, timestamp: new Date(Date.now() + 5000).toISOString(), metadata: { correlationId: 'other' }, replyTo: replyTo('client-2') });
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
    expect((world.driver.store('accounts').get('a1') as { state: { balance: number } }).state.balance).to.equal(100);
  });

  it('remembers a rejection too, and refuses the id reused for a different command (IDEMPOTENCY_KEY_REUSED) keeping the first outcome', () => {
    const world = bank();
    world.send(command('OpenAccount', account('a1'), { owner: 'Ann' }));
    const withdraw = command('WithdrawMoney', account('a1'), { amount: 50 }, { id: 'w', replyTo: replyTo('c') });
    world.send(withdraw);
    world.send(command('DepositMoney', account('a1'), { amount: 500 }));
    world.send(withdraw);
    world.send({ ...withdraw, data: { amount: 60 } });
    world.send(withdraw);
    expect(replies(world).map(({ reply }) => [reply.data.status, (reply.data as { code?: string }).code, reply.data.version])).to.deep.equal([
      ['rejected', 'INSUFFICIENT_FUNDS', 1],
      ['rejected', 'INSUFFICIENT_FUNDS', 1],
      ['rejected', 'IDEMPOTENCY_KEY_REUSED', 2],
      ['rejected', 'INSUFFICIENT_FUNDS', 1],
    ]);
    // One CommandRejected event (the first), nothing withdrawn.
    expect(world.driver.output(TOPICS.rejections)).to.have.length(1);
    expect(events(world).map((event) => event.type)).to.deep.equal(['AccountOpened', 'MoneyDeposited']);
  });

  it('remembers one entry per command id for retainMs (on record timestamps); a sweep deletes older ones; idempotency: false turns it off', () => {
    const start = Date.parse('2026-01-01T00:00:00Z');
    const byAge = bank({ retainMs: 60_000 }, start);
    byAge.send(command('OpenAccount', account('a1'), { owner: 'Ann' }, { id: 'open' }), start);
    const deposit = command('DepositMoney', account('a1'), { amount: 1 }, { id: 'dep' });
    byAge.send(deposit, start + 1000);
    byAge.send(deposit, start + 61_000);
    expect(events(byAge)).to.have.length(2);
    // One small entry per command, keyed [aggregate id, command id].
    expect(byAge.driver.store('accounts.processed').all().map(([key]) => key)).to.deep.equal([processedCommandKey('a1', 'dep'), processedCommandKey('a1', 'open')]);
    expect(byAge.driver.store<{ fingerprint: string }>('accounts.processed').get(processedCommandKey('a1', 'dep'))!.fingerprint).to.equal(commandFingerprint(deposit));
    // Past the retention it is a new command (even before the sweep deleted it).
    byAge.send(deposit, start + 61_001);
    expect(events(byAge)).to.have.length(3);
    // The sweep runs every retainMs / 24 (here its 1 s minimum) on wall-clock time: what is older than retainMs goes.
    byAge.driver.advanceWallClockTime(61_500);
    expect(byAge.driver.store('accounts.processed').all().map(([key]) => key)).to.deep.equal([processedCommandKey('a1', 'dep')]);

    const off = bank(false);
    off.send(command('OpenAccount', account('a1'), { owner: 'Ann' }));
    off.send(deposit);
    off.send(deposit);
    expect(events(off)).to.have.length(3);
    expect(off.stores).to.deep.equal(['accounts']);
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

describe('choreography (samples/transfers/choreography.ts)', () => {
  it('reacts to another service\'s events with commands whose ids come from the events: a deposit read twice awards its points once', () => {
    const builder = new StreamsBuilder('loyalty');
    awardPointsOnDeposits(builder, { accountEvents: 'account-events', loyaltyCommands: 'loyalty-commands' });
    builder.stream('loyalty-commands').processCommands<{ points: number }>({
      store: 'members',
      events: 'loyalty-events',
      initial: () => ({ points: 0 }),
      decide: (_state, next) => [{ type: 'PointsAwarded', data: next.data }],
      evolve: (state, event) => ({ points: state.points + (event.data as { points: number }).points }),
    });
    const driver = new TopologyTestDriver(builder.build());
    const deposit: Event = { kind: 'event', id: 'cmd-1-0', type: 'MoneyDeposited', aggregateType: 'Account', aggregateId: 'a1', version: 2, timestamp: 't', metadata: { correlationId: 'c-1' }, data: { amount: 250 } };
    const small: Event = { ...deposit, id: 'cmd-2-0', version: 3, data: { amount: 99 } };
    driver.pipe('account-events', deposit, 'a1').pipe('account-events', small, 'a1').pipe('account-events', deposit, 'a1');
    expect(driver.output('loyalty-commands').map(({ value }) => (value as Command).id)).to.deep.equal(['points-for-cmd-1-0', 'points-for-cmd-1-0']);
    expect(driver.output('loyalty-events').map(({ value }) => [(value as Event).type, (value as Event).data, (value as Event).metadata.correlationId])).to.deep.equal([['PointsAwarded', { points: 2 }, 'c-1']]);
    expect(driver.store<{ state: { points: number } }>('members').get('a1')!.state.points).to.equal(2);
  });
});
