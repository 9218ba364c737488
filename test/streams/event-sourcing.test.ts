import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { command, LightService, type Event } from '../../index.js';
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
});
