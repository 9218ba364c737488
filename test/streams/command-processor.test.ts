import { expect } from 'chai';
import { command, StreamsBuilder, type Event } from '../../index.js';
import { LightError } from '../../core/errors/light-error.js';
import type { ProcessorContext } from '../../core/streams/topology.js';
import { accountCommandProcessor, accountProjection } from '../../samples/accounts/domain.js';

const TOPICS = { commands: 'account-commands', events: 'account-events', rejections: 'account-rejections' };

/** The topology of the accounts sample run in-process with in-memory stores, as one task runs it. */
function accounts(): { send(value: unknown): void; sent: { topic: string; key: unknown; value: Event }[]; stores: Map<string, Map<unknown, unknown>> } {
  const builder = new StreamsBuilder('bank');
  accountCommandProcessor(builder, TOPICS);
  accountProjection(builder, TOPICS.events);
  const topology = builder.build();
  const stores = new Map<string, Map<unknown, unknown>>();
  const sent: { topic: string; key: unknown; value: Event }[] = [];
  const context: ProcessorContext = {
    streamTime: () => -1,
    store(name) {
      if (!stores.has(name)) stores.set(name, new Map());
      const map = stores.get(name)!;
      return { get: (key) => map.get(key), put: (key, value) => void map.set(key, value), delete: (key) => void map.delete(key) };
    },
    send: (topic, record) => {
      sent.push({ topic, key: record.key, value: record.value as Event });
      // The projection reads the event topic: feed it what the processor appended.
      if (topic === TOPICS.events) topology.sources.find((source) => source.topic === TOPICS.events)!.process(record, context);
    },
  };
  const commands = topology.sources.find((source) => source.topic === TOPICS.commands)!;
  return { send: (value) => commands.process({ key: (value as { aggregateId?: string }).aggregateId ?? null, value, timestamp: '0' }, context), sent, stores };
}

const account = (id: string) => ({ type: 'Account', id });

describe('event-sourced command processor (accounts sample)', () => {
  it('appends versioned events with the command metadata, evolves the aggregate and the projection', () => {
    const bank = accounts();
    const metadata = { correlationId: 'corr-1', callerId: 'web' };
    bank.send(command('OpenAccount', account('a1'), { owner: 'Ann' }, { metadata, id: 'cmd-1' }));
    bank.send(command('DepositMoney', account('a1'), { amount: 100 }, { metadata, expectedVersion: 1 }));
    bank.send(command('WithdrawMoney', account('a1'), { amount: 30 }, { metadata }));
    const events = bank.sent.filter(({ topic }) => topic === TOPICS.events).map(({ value }) => [value.type, value.version, value.data]);
    expect(events).to.deep.equal([
      ['AccountOpened', 1, { owner: 'Ann' }],
      ['MoneyDeposited', 2, { amount: 100 }],
      ['MoneyWithdrawn', 3, { amount: 30 }],
    ]);
    expect(bank.sent[0]!.value).to.include({ id: 'cmd-1-0', aggregateType: 'Account', aggregateId: 'a1', kind: 'event' });
    expect(bank.sent[0]!.value.metadata).to.deep.equal(metadata);
    expect(bank.stores.get('accounts')!.get('a1')).to.deep.equal({ state: { owner: 'Ann', balance: 70, open: true }, version: 3 });
    expect(bank.stores.get('account-view')!.get('a1')).to.include({ owner: 'Ann', balance: 70, version: 3 });
  });

  it('refuses a withdrawal below zero and a stale expected version with CommandRejected, changing nothing', () => {
    const bank = accounts();
    bank.send(command('OpenAccount', account('a2'), { owner: 'Bob' }));
    bank.send(command('DepositMoney', account('a2'), { amount: 10 }));
    bank.send(command('WithdrawMoney', account('a2'), { amount: 11 }, { id: 'too-much' }));
    bank.send(command('DepositMoney', account('a2'), { amount: 5 }, { id: 'stale', expectedVersion: 1 }));
    const rejections = bank.sent.filter(({ topic }) => topic === TOPICS.rejections).map(({ value }) => value);
    expect(rejections.map((rejection) => [rejection.type, (rejection.data as { code: string }).code, (rejection.data as { commandId: string }).commandId])).to.deep.equal([
      ['CommandRejected', 'INSUFFICIENT_FUNDS', 'too-much'],
      ['CommandRejected', 'VERSION_CONFLICT', 'stale'],
    ]);
    expect((rejections[1]!.data as { reason: string }).reason).to.equal('expected version 1, the aggregate is at version 2');
    expect(bank.stores.get('accounts')!.get('a2')).to.deep.equal({ state: { owner: 'Bob', balance: 10, open: true }, version: 2 });
  });

  it('refuses a record that is not a command envelope (COMMAND_SCHEMA) with ERR11019, naming the field', () => {
    const bank = accounts();
    expect(() => bank.send({ aggregateId: 'a3', type: 'OpenAccount' })).to.throw(LightError, /kind is required/).with.property('code', 'ERR11019');
    const valid = command('OpenAccount', account('a3'), { owner: 'Ann' });
    expect(() => bank.send({ ...valid, id: '' })).to.throw(LightError, /id must NOT have fewer than 1 characters/);
    expect(() => bank.send({ ...valid, expectedVersion: -1 })).to.throw(LightError, /expectedVersion must be >= 0/);
    expect(() => bank.send({ ...valid, kind: 'event' })).to.throw(LightError, /kind must be equal to constant "command"/);
    expect(() => bank.send({ ...valid, metadata: { 'a/b': 1 } })).to.throw(LightError, /metadata\.a\/b must be string/);
    expect(() => bank.send(valid)).to.not.throw();
  });
});
