// An example of testing a LightStreams topology without a broker: the accounts sample's command processor and projection.
import { expect } from 'chai';
import { command, defineSaga, replyOf, StreamsBuilder, type Command, type Event, type SagaInstance } from '../../index.js';
import { transferSaga, TRANSFER_SAGA } from '../../samples/transfers/transfer-saga.js';
import { TopologyTestDriver } from '../../testing/index.js';
import { accountCommandProcessor, accountProjection, type AccountView } from '../../samples/accounts/domain.js';

describe('light-kafka/testing: a topology without a broker', () => {
  it('drives commands through the aggregate into events, rejections and the projection', () => {
    const topics = { commands: 'account-commands', events: 'account-events', rejections: 'account-rejections' };
    const builder = new StreamsBuilder('bank');
    accountCommandProcessor(builder, topics);
    accountProjection(builder, topics.events);
    const driver = new TopologyTestDriver(builder.build());
    const account = { type: 'Account', id: 'a1' };
    driver
      .pipe(topics.commands, command('OpenAccount', account, { owner: 'Ann' }), 'a1')
      .pipe(topics.commands, command('DepositMoney', account, { amount: 40 }), 'a1')
      .pipe(topics.commands, command('WithdrawMoney', account, { amount: 50 }), 'a1');
    expect(driver.output(topics.events).map(({ value }) => (value as Event).type)).to.deep.equal(['AccountOpened', 'MoneyDeposited']);
    expect(driver.output(topics.rejections).map(({ value }) => (value as Event<{ code: string }>).data.code)).to.deep.equal(['INSUFFICIENT_FUNDS']);
    expect(driver.store<{ version: number }>('accounts').get('a1')?.version).to.equal(2);
    expect(driver.store<AccountView>('account-view').get('a1')).to.include({ owner: 'Ann', balance: 40, version: 2 });
  });

  it('drives a saga: participants in the same topology answer in order; advanceWallClockTime runs its timeouts', () => {
    const topics = { transfers: 'transfers', replies: 'transfer-replies', debit: 'account-commands', credit: 'other-bank-commands' };
    const builder = new StreamsBuilder('transfers');
    accountCommandProcessor(builder, { commands: topics.debit, events: 'account-events', rejections: 'account-rejections' });
    defineSaga(builder, transferSaga(topics, { timeoutMs: 5000 }));
    const driver = new TopologyTestDriver(builder.build(), { wallClockMs: Date.parse('2026-01-01T00:00:00Z') });
    driver
      .pipe(topics.debit, command('OpenAccount', { type: 'Account', id: 'ann' }, { owner: 'Ann' }), 'ann')
      .pipe(topics.debit, command('DepositMoney', { type: 'Account', id: 'ann' }, { amount: 100 }), 'ann')
      .pipe(topics.transfers, command('StartTransfer', { type: 'Transfer', id: 't1' }, { from: 'ann', to: 'zoe', amount: 30 }), 't1');
    // The debit ran in this topology; the credit went to another bank, which does not answer.
    const saga = (): SagaInstance => driver.store<SagaInstance>(TRANSFER_SAGA).get('t1')!;
    expect(saga()).to.include({ status: 'RUNNING', step: 1 });
    expect(driver.output(topics.credit).map(({ value }) => (value as Command).id)).to.deep.equal(['t1:1:do']);
    driver.advanceWallClockTime(5000);
    expect(saga()).to.include({ status: 'COMPENSATING' });
    expect(driver.store<{ state: { balance: number } }>('accounts').get('ann')!.state.balance, 'refunded').to.equal(100);
    // The other bank answers at last: it never applied the credit, so nothing more is undone.
    const credit = driver.output(topics.credit)[0]!.value as Command;
    driver.pipe(topics.replies, replyOf(credit, { status: 'rejected', version: 0, code: 'NOT_OPEN', reason: 'no such account' }), 't1');
    expect(saga()).to.include({ status: 'COMPENSATED' });
  });

  it('keeps stream time: the newest record timestamp processed, which a late record does not move back', () => {
    const builder = new StreamsBuilder('stream-time');
    const seen: number[] = [];
    builder.process([builder.stream('in')], [], (_record, context) => void seen.push(context.streamTime()));
    const driver = new TopologyTestDriver(builder.build());
    expect(driver.streamTime).to.equal(-1);
    driver.pipe('in', 1, 'a', '5000').pipe('in', 2, 'a', '3000').pipe('in', 3, 'a', '9000');
    expect(seen).to.deep.equal([5000, 5000, 9000]);
    expect(driver.streamTime).to.equal(9000);
  });
});
