import { expect } from 'chai';
import { LightError } from '../../core/errors/light-error.js';
import type { Exchange } from '../../core/exchange.js';
import { event, eventAvroSchema, LightService, runWithContext, RecordHeaders, TypeRouter, type Event } from '../../index.js';
import { TypedMap } from '../../core/attachments.js';
import { configDir, consumerYml, producerYml } from '../support/config-dir.js';
import { createTopics, uniqueName, waitFor } from '../support/kafka.js';
import { useRegistry } from '../support/registry.js';

/** Two event types of one topic, and an Avro key: each a named record, as Record/TopicRecordNameStrategy need. */
const record = (name: string, fields: object[]): string => JSON.stringify({ type: 'record', name, namespace: 'bank.avro', fields });
const ACCOUNT_OPENED = record('AccountOpened', [
  { name: 'type', type: 'string' },
  { name: 'accountId', type: 'string' },
  { name: 'owner', type: 'string' },
]);
const MONEY_DEPOSITED = record('MoneyDeposited', [
  { name: 'type', type: 'string' },
  { name: 'accountId', type: 'string' },
  { name: 'amount', type: 'long' },
]);
const ACCOUNT_KEY = record('AccountKey', [{ name: 'accountId', type: 'string' }]);

const running: LightService[] = [];

async function start(files: Record<string, string>, handle?: (service: LightService) => void): Promise<LightService> {
  const service = await LightService.create({ configDir: configDir(files) });
  running.push(service);
  handle?.(service);
  await service.start();
  return service;
}

async function subjects(url: string): Promise<string[]> {
  return (await (await fetch(`${url}/subjects`)).json()) as string[];
}

async function failureOf(work: Promise<unknown>): Promise<LightError> {
  const error = await work.then(() => undefined, (e: unknown) => e);
  expect(error, 'expected a LightError').to.be.instanceOf(LightError);
  return error as LightError;
}

describe('validation/avro against a real schema registry (Apicurio, Confluent API) @broker', function () {
  this.timeout(180_000);
  let url: string;

  before(async function () {
    this.timeout(300_000);
    url = await useRegistry();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((service) => service.stop()));
  });

  function files(avroYml: string, schemas: Record<string, string>, keyFormat = 'string'): Record<string, string> {
    return {
      'handler.yml': 'handlers: [validation/avro@avro, kafka/producer@producer]\ndefaultHandlers:\n  produce: [avro, producer]\n  consume: [avro]\n',
      'avro.yml': avroYml,
      ...Object.fromEntries(Object.entries(schemas).map(([name, text]) => [`schemas/${name}`, text])),
      'schema-registry.yml': `url: ${url}\ntimeoutMs: 5000\nretries: 1\n`,
      'kafka-consumer.yml': consumerYml(uniqueName('avro-real'), `keyFormat: ${keyFormat}\n`),
      'kafka-producer.yml': producerYml(),
    };
  }

  it('TopicRecordNameStrategy: two event types on one topic, each under <topic>-<record>, routed by type on consume', async () => {
    const topic = uniqueName('account-events');
    await createTopics([topic]);
    const yml = `topics:\n  ${topic}:\n    subjectNameStrategy: TopicRecordNameStrategy\n    values: [schemas/opened.avsc, schemas/deposited.avsc]\n`;
    const schemas = { 'opened.avsc': ACCOUNT_OPENED, 'deposited.avsc': MONEY_DEPOSITED };
    const producer = await start(files(yml, schemas));
    await producer.producer.send(topic, [
      { key: 'a1', value: { type: 'AccountOpened', accountId: 'a1', owner: 'Ann' } },
      { key: 'a1', value: { type: 'MoneyDeposited', accountId: 'a1', amount: 100 } },
    ]);
    expect(await subjects(url)).to.include.members([`${topic}-bank.avro.AccountOpened`, `${topic}-bank.avro.MoneyDeposited`]);

    const balances = new Map<string, number>();
    const router = new TypeRouter<{ type: string; accountId: string; amount?: number }>()
      .on('AccountOpened', (opened) => void balances.set(opened.accountId, 0))
      .on<{ type: string; accountId: string; amount: number }>('MoneyDeposited', (deposited) => void balances.set(deposited.accountId, (balances.get(deposited.accountId) ?? 0) + Number(deposited.amount)));
    const seen: Exchange[] = [];
    await start(files(yml, schemas), (service) =>
      service.consumer.handle(topic, (exchange) => {
        seen.push(exchange);
        router.route(exchange.value as { type: string; accountId: string });
      }),
    );
    await waitFor(() => seen.length === 2, 60_000, 'both events consumed');
    expect(balances.get('a1')).to.equal(100);
  });

  it('RecordNameStrategy with an Avro key: subjects are the record names, and the key decodes to its record', async () => {
    const topic = uniqueName('account-keyed');
    await createTopics([topic]);
    const yml = `subjectNameStrategy: RecordNameStrategy\ntopics:\n  ${topic}:\n    values: [schemas/opened.avsc, schemas/deposited.avsc]\n    key: schemas/key.avsc\n`;
    const schemas = { 'opened.avsc': ACCOUNT_OPENED, 'deposited.avsc': MONEY_DEPOSITED, 'key.avsc': ACCOUNT_KEY };
    const producer = await start(files(yml, schemas));
    await producer.producer.send(topic, { key: { accountId: 'a9' } as never, value: { type: 'AccountOpened', accountId: 'a9', owner: 'Zoe' } });
    expect(await subjects(url)).to.include.members(['bank.avro.AccountOpened', 'bank.avro.AccountKey']);
    const seen: Exchange[] = [];
    await start(files(yml, schemas, 'buffer'), (service) => service.consumer.handle(topic, (exchange) => void seen.push(exchange)));
    await waitFor(() => seen.length === 1, 60_000, 'the keyed event');
    expect({ ...(seen[0]!.key as unknown as object) }).to.deep.equal({ accountId: 'a9' });
    expect(seen[0]!.value).to.deep.include({ type: 'AccountOpened', owner: 'Zoe' });
  });

  it('FORWARD: a v2 that adds a field is accepted (a v1 reader reads it), one that drops a field v1 needs is refused (ERR11015)', async () => {
    const topic = uniqueName('forward');
    await createTopics([topic]);
    const v1 = record('Note', [{ name: 'id', type: 'string' }, { name: 'text', type: 'string' }]);
    const v2 = record('Note', [{ name: 'id', type: 'string' }, { name: 'text', type: 'string' }, { name: 'tag', type: 'string' }]);
    const bad = record('Note', [{ name: 'id', type: 'string' }]);
    const yml = `compatibility: FORWARD\ntopics:\n  ${topic}:\n    value: schemas/note.avsc\n`;
    await (await start(files(yml, { 'note.avsc': v1 }))).producer.send(topic, { value: { id: 'n1', text: 'hello' } });
    await (await start(files(yml, { 'note.avsc': v2 }))).producer.send(topic, { value: { id: 'n2', text: 'again', tag: 'x' } });
    const refused = await failureOf((await start(files(yml, { 'note.avsc': bad }))).producer.send(topic, { value: { id: 'n3' } }));
    expect(refused.code).to.equal('ERR11015');
    // A v1 reader still reads what v2 wrote (it skips the new field): that is what FORWARD promises.
    const seen: Exchange[] = [];
    await start(files(yml, { 'note.avsc': v1 }), (service) => service.consumer.handle(topic, (exchange) => void seen.push(exchange)));
    await waitFor(() => seen.length === 2, 60_000, 'both notes');
    expect(seen.map((exchange) => ({ ...(exchange.value as object) }))).to.deep.equal([{ id: 'n1', text: 'hello' }, { id: 'n2', text: 'again' }]);
  });

  it('FULL: a field added with a default is accepted, one added without a default is refused (ERR11015)', async () => {
    const topic = uniqueName('full');
    await createTopics([topic]);
    const v1 = record('Item', [{ name: 'id', type: 'string' }]);
    const v2 = record('Item', [{ name: 'id', type: 'string' }, { name: 'size', type: 'int', default: 0 }]);
    const bad = record('Item', [{ name: 'id', type: 'string' }, { name: 'size', type: 'int', default: 0 }, { name: 'colour', type: 'string' }]);
    const yml = `compatibility: FULL\ntopics:\n  ${topic}:\n    value: schemas/item.avsc\n`;
    await (await start(files(yml, { 'item.avsc': v1 }))).producer.send(topic, { value: { id: 'i1' } });
    await (await start(files(yml, { 'item.avsc': v2 }))).producer.send(topic, { value: { id: 'i2', size: 4 } });
    const refused = await failureOf((await start(files(yml, { 'item.avsc': bad }))).producer.send(topic, { value: { id: 'i3', size: 1, colour: 'red' } }));
    expect(refused.code).to.equal('ERR11015');
  });

  it('refuses at start several value schemas under TopicNameStrategy, naming the file and key', async () => {
    const error = await failureOf(
      LightService.create({ configDir: configDir(files(`topics:\n  t:\n    values: [schemas/opened.avsc, schemas/deposited.avsc]\n`, { 'opened.avsc': ACCOUNT_OPENED, 'deposited.avsc': MONEY_DEPOSITED })) }),
    );
    expect(error.code).to.equal('ERR13001');
    expect(error.message).to.include('topics.t.values').and.include('RecordNameStrategy');
  });

  it('Event envelopes in Avro: two event types on one topic, the metadata of the request travelling in the envelope', async () => {
    const topic = uniqueName('account-envelopes');
    await createTopics([topic]);
    const opened = JSON.stringify(eventAvroSchema({ type: 'AccountOpened', namespace: 'bank.events', data: [{ name: 'owner', type: 'string' }] }));
    const deposited = JSON.stringify(eventAvroSchema({ type: 'MoneyDeposited', namespace: 'bank.events', data: [{ name: 'amount', type: 'long' }] }));
    const yml = `topics:\n  ${topic}:\n    subjectNameStrategy: TopicRecordNameStrategy\n    values: [schemas/opened.avsc, schemas/deposited.avsc]\n`;
    const schemas = { 'opened.avsc': opened, 'deposited.avsc': deposited };
    const producer = await start(files(yml, schemas));
    const context = { headers: RecordHeaders.from({ 'X-Correlation-Id': 'corr-avro-1' }), values: new TypedMap() };
    const events = runWithContext(context, () => [
      event('AccountOpened', { type: 'Account', id: 'a5', version: 1 }, { owner: 'Eve' }),
      event('MoneyDeposited', { type: 'Account', id: 'a5', version: 2 }, { amount: 42 }),
    ]);
    await producer.producer.send(topic, events.map((value) => ({ key: value.aggregateId, value })));
    expect(await subjects(url)).to.include.members([`${topic}-bank.events.AccountOpened`, `${topic}-bank.events.MoneyDeposited`]);

    const received: string[] = [];
    const router = new TypeRouter<Event>()
      .on<Event<{ owner: string }>>('AccountOpened', (opened) => void received.push(`${opened.aggregateId} opened by ${opened.data.owner} v${opened.version} ${opened.metadata.correlationId}`))
      .on<Event<{ amount: number }>>('MoneyDeposited', (deposit) => void received.push(`${deposit.aggregateId} +${Number(deposit.data.amount)} v${deposit.version} ${deposit.metadata.correlationId}`));
    await start(files(yml, schemas), (service) => service.consumer.handle(topic, (exchange) => router.route(exchange.value as Event)));
    await waitFor(() => received.length === 2, 60_000, 'both envelopes');
    expect(received).to.deep.equal(['a5 opened by Eve v1 corr-avro-1', 'a5 +42 v2 corr-avro-1']);
  });
});
