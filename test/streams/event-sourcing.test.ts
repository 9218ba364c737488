import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { command, EVENT_SCHEMA, LightService, type Event } from '../../index.js';
import { readFileSync } from 'node:fs';
import { ACCOUNTS_CONFIG_DIR } from '../../samples/accounts/account-service.js';
import { accountCommandProcessor, accountProjection, type AccountView } from '../../samples/accounts/domain.js';
import { configDir, consumerYml, producerYml, serviceYml } from '../support/config-dir.js';
import { createTopics, readToEnd, uniqueName, waitFor } from '../support/kafka.js';

function streamsDir(applicationId: string, stateDir: string): string {
  return configDir({
    'service.yml': serviceYml('bank-test', 'stopTimeoutMs: 20000\n'),
    'kafka-consumer.yml': consumerYml(uniqueName('bank-unused'), '', 1),
    'kafka-producer.yml': producerYml(),
    'kafka-streams.yml': `properties:\n  bootstrap.servers: \${kafka.brokers}\n  application.id: ${applicationId}\n  state.dir: ${stateDir}\n  commit.interval.ms: 100\n`,
  });
}

const views = (service: LightService): Map<string, AccountView> => new Map(service.streams.store<AccountView>('account-view').all().map(({ key, value }) => [key, value]));

describe('event-sourced accounts on Kafka @broker', function () {
  this.timeout(180_000);
  const folders: string[] = [];
  after(() => folders.forEach((folder) => rmSync(folder, { recursive: true, force: true })));
  const stateDir = (): string => {
    const folder = mkdtempSync(join(tmpdir(), 'light-kafka-bank-'));
    folders.push(folder);
    return folder;
  };

  it('processes commands exactly once into events and rejections, and a projection rebuilt from the event topic equals the live one', async () => {
    const topics = { commands: uniqueName('bank-commands'), events: uniqueName('bank-events'), rejections: uniqueName('bank-rejections') };
    await createTopics(Object.values(topics), 3);
    const live = await LightService.create({ configDir: streamsDir(uniqueName('bank'), stateDir()) });
    accountCommandProcessor(live.streams.builder(), topics);
    accountProjection(live.streams.builder(), topics.events);
    await live.start();
    const accounts = Array.from({ length: 12 }, (_, n) => `acc-${n}`);
    let liveView!: Map<string, AccountView>;
    try {
      const commands = accounts.flatMap((id, n) => [
        command('OpenAccount', { type: 'Account', id }, { owner: `owner ${n}` }),
        command('DepositMoney', { type: 'Account', id }, { amount: 100 + n }),
        command('WithdrawMoney', { type: 'Account', id }, { amount: 50 }),
        // Breaks the invariant: the balance would go below zero.
        command('WithdrawMoney', { type: 'Account', id }, { amount: 1_000 }),
        // A stale expected version.
        command('DepositMoney', { type: 'Account', id }, { amount: 1 }, { expectedVersion: 1 }),
      ]);
      await live.producer.send(topics.commands, commands.map((value) => ({ key: value.aggregateId, value })));
      await waitFor(() => views(live).size === accounts.length && [...views(live).values()].every((view) => view.version === 3), 90_000, 'every account at version 3');
      for (const [n, id] of accounts.entries()) expect(views(live).get(id), id).to.include({ owner: `owner ${n}`, balance: 100 + n - 50, version: 3 });
      liveView = views(live);
    } finally {
      await live.stop();
    }
    const events = (await readToEnd(topics.events)).map((record) => JSON.parse(record.value!) as Event);
    expect(events).to.have.length(accounts.length * 3);
    const rejections = (await readToEnd(topics.rejections)).map((record) => JSON.parse(record.value!) as Event<{ code: string }>);
    expect(rejections.map((rejection) => rejection.data.code).sort()).to.deep.equal([...Array(accounts.length).fill('INSUFFICIENT_FUNDS'), ...Array(accounts.length).fill('VERSION_CONFLICT')].sort());

    // A new application reads the event topic from its beginning: the same view.
    const rebuilt = await LightService.create({ configDir: streamsDir(uniqueName('bank-rebuild'), stateDir()) });
    accountProjection(rebuilt.streams.builder(), topics.events);
    await rebuilt.start();
    try {
      await waitFor(() => views(rebuilt).size === accounts.length && [...views(rebuilt).values()].every((view) => view.version === 3), 60_000, 'the rebuilt projection');
      expect(views(rebuilt)).to.deep.equal(liveView);
    } finally {
      await rebuilt.stop();
    }
  });

  it('a rejection of a never-opened account passes the shipped schemas, and an event its produce chain refuses becomes an OUTCOME_REFUSED rejection', async () => {
    const topics = { commands: uniqueName('bank-commands'), events: uniqueName('bank-events'), rejections: uniqueName('bank-rejections') };
    await createTopics(Object.values(topics), 3);
    // Events: the library's EVENT_SCHEMA, with deposits capped at 1000 (a schema that refuses an event the domain
    // decides); rejections: the sample's shipped event schema.
    const strictEvents = { ...EVENT_SCHEMA, allOf: [{ if: { properties: { type: { const: 'MoneyDeposited' } } }, then: { properties: { data: { properties: { amount: { maximum: 1000 } } } } } }] };
    const dir = configDir({
      'service.yml': serviceYml('bank-test', 'stopTimeoutMs: 20000\n'),
      'kafka-consumer.yml': consumerYml(uniqueName('bank-unused'), '', 1),
      'kafka-producer.yml': producerYml(),
      'kafka-streams.yml': `properties:\n  bootstrap.servers: \${kafka.brokers}\n  application.id: ${uniqueName('bank-refused')}\n  state.dir: ${stateDir()}\n  commit.interval.ms: 100\n`,
      'schemas/events.json': JSON.stringify(strictEvents),
      'schemas/rejections.json': readFileSync(join(ACCOUNTS_CONFIG_DIR, 'schemas', 'event.schema.json'), 'utf8'),
      'json-schema.yml': `topics:\n  ${topics.events}:\n    value: schemas/events.json\n  ${topics.rejections}:\n    value: schemas/rejections.json\n`,
      'handler.yml': 'handlers: [correlation, validation/json-schema@json, kafka/producer@producer]\ndefaultHandlers:\n  produce: [correlation, json, producer]\n  consume: [correlation]\n',
    });
    const service = await LightService.create({ configDir: dir });
    accountCommandProcessor(service.streams.builder(), topics);
    await service.start();
    const aggregates = (): Map<string, { version: number; state: { balance: number } }> => new Map(service.streams.store<{ version: number; state: { balance: number } }>('accounts').all().map(({ key, value }) => [key, value]));
    try {
      const send = [
        command('DepositMoney', { type: 'Account', id: 'never-opened' }, { amount: 5 }, { id: 'to-nobody' }),
        command('OpenAccount', { type: 'Account', id: 'acc-1' }, { owner: 'Ann' }),
        command('DepositMoney', { type: 'Account', id: 'acc-1' }, { amount: 5000 }, { id: 'too-big-for-the-schema' }),
        command('DepositMoney', { type: 'Account', id: 'acc-1' }, { amount: 10 }),
      ];
      await service.producer.send(topics.commands, send.map((value) => ({ key: value.aggregateId, value })));
      await waitFor(() => aggregates().get('acc-1')?.version === 2, 60_000, 'acc-1 at version 2');
      // The refused deposit changed nothing: the next one is version 2 on a balance of 10.
      expect(aggregates().get('acc-1')!.state.balance).to.equal(10);
      expect(aggregates().has('never-opened')).to.equal(false);
    } finally {
      await service.stop();
    }
    const events = (await readToEnd(topics.events)).map((record) => JSON.parse(record.value!) as Event<{ amount?: number }>);
    expect(events.map((event) => [event.type, event.version, event.data.amount ?? null])).to.deep.equal([
      ['AccountOpened', 1, null],
      ['MoneyDeposited', 2, 10],
    ]);
    const rejections = (await readToEnd(topics.rejections)).map((record) => JSON.parse(record.value!) as Event<{ code: string; commandId: string; reason: string }>);
    const byCommand = new Map(rejections.map((rejection) => [rejection.data.commandId, rejection]));
    expect(rejections).to.have.length(2);
    // A command to an aggregate with no events: version 0, accepted by the shipped schema, not dead-lettered.
    expect(byCommand.get('to-nobody')).to.deep.include({ type: 'CommandRejected', version: 0 });
    expect(byCommand.get('to-nobody')!.data.code).to.equal('NOT_OPEN');
    // The event the events topic's schema refused: the caller learns it from a rejection that names the error.
    expect(byCommand.get('too-big-for-the-schema')).to.deep.include({ type: 'CommandRejected', version: 1 });
    expect(byCommand.get('too-big-for-the-schema')!.data.code).to.equal('OUTCOME_REFUSED');
    expect(byCommand.get('too-big-for-the-schema')!.data.reason).to.match(/^ERR11000 Record on .*\/data\/amount/);
    expect(await readToEnd(`${topics.commands}.dlq`).catch(() => [])).to.have.length(0);
  });
});
