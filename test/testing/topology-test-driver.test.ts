// An example of testing a LightStreams topology without a broker: the accounts sample's command processor and projection.
import { expect } from 'chai';
import { command, StreamsBuilder, type Event } from '../../index.js';
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
});
