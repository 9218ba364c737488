import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { Event } from '../../index.js';
import type { AccountService } from '../../samples/accounts/account-service.js';
import { DemoTraceCollector } from '../../samples/accounts/trace-collector.js';
import { accountTopicsForTest, callJson, startTestAccounts, type HttpAnswer } from '../fixtures/bank-http.js';
import { useBroker } from '../support/broker.js';
import { JwksServer, makeKey, signToken } from '../support/jwt.js';
import { createTopics, readToEnd, uniqueName } from '../support/kafka.js';

describe('accounts sample: Idempotency-Key and Prefer: wait on the HTTP command API @broker', function () {
  this.timeout(180_000);
  let brokers: string;
  let account: AccountService;
  let jwks: JwksServer;
  let collector: DemoTraceCollector;
  let token: string;
  let work: string;
  let admin: ReturnType<Kafka['admin']>;
  const topics = accountTopicsForTest('http');
  const replyTopic = uniqueName('http-replies');

  before(async function () {
    this.timeout(600_000);
    brokers = await useBroker();
    await createTopics(Object.values(topics), 3);
    admin = new Kafka({ brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const key = await makeKey('accounts');
    jwks = await JwksServer.start([key]);
    token = await signToken(key, { scope: 'accounts.w' }, { issuer: 'urn:bank:auth', audience: 'urn:bank:accounts' });
    collector = await DemoTraceCollector.start();
    work = mkdtempSync(join(tmpdir(), 'light-kafka-accounts-http-'));
    account = await startTestAccounts({ instance: 'http', brokers, jwksUrl: jwks.url, otlpEndpoint: collector.url, work, applicationId: uniqueName('bank-http'), topics, replyTopic });
  });

  after(async () => {
    await account?.stop();
    await admin?.disconnect();
    await collector?.stop();
    await jwks?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const post = (accountId: string, body: object, headers: Record<string, string> = {}): Promise<HttpAnswer> => callJson(account.port, 'POST', `/accounts/${accountId}/commands`, token, { body, headers });
  const commandsOnTopic = async (): Promise<bigint> => (await admin.fetchTopicOffsets(topics.commands)).reduce((sum, { high }) => sum + BigInt(high), 0n);
  const eventsOf = async (accountId: string): Promise<Event[]> =>
    (await readToEnd(topics.events)).map((record) => JSON.parse(record.value!) as Event).filter((event) => event.aggregateId === accountId);
  const newAccount = (): string => `acc-${randomUUID().slice(0, 8)}`;

  it('Prefer: wait answers the outcome: 201 opened, 200 deposited, 409 VERSION_CONFLICT, 422 INSUFFICIENT_FUNDS, with Preference-Applied', async () => {
    const id = newAccount();
    const opened = await post(id, { type: 'OpenAccount', data: { owner: 'Ann' } }, { prefer: 'wait=30' });
    expect(opened.status, JSON.stringify(opened.body)).to.equal(201);
    expect(opened.headers.get('preference-applied')).to.equal('wait=30');
    expect(opened.headers.get('location')).to.equal(`/accounts/${id}`);
    expect(opened.body).to.deep.include({ status: 'accepted', version: 1 });
    expect(opened.body.events).to.deep.equal([{ id: `${String(opened.body.commandId)}-0`, type: 'AccountOpened', version: 1 }]);

    const deposited = await post(id, { type: 'DepositMoney', data: { amount: 100 }, expectedVersion: 1 }, { prefer: 'respond-async, wait=30' });
    expect(deposited.status, JSON.stringify(deposited.body)).to.equal(200);
    expect(deposited.body).to.deep.include({ status: 'accepted', version: 2 });

    const conflict = await post(id, { type: 'DepositMoney', data: { amount: 5 }, expectedVersion: 1 }, { prefer: 'wait=30' });
    expect(conflict.status, JSON.stringify(conflict.body)).to.equal(409);
    expect(conflict.body).to.deep.include({ status: 'rejected', code: 'VERSION_CONFLICT', version: 2, reason: 'expected version 1, the aggregate is at version 2' });

    // A wait longer than the API's cap is cut to it, and Preference-Applied says so.
    const overdrawn = await post(id, { type: 'WithdrawMoney', data: { amount: 500 } }, { prefer: 'wait=600' });
    expect(overdrawn.status, JSON.stringify(overdrawn.body)).to.equal(422);
    expect(overdrawn.headers.get('preference-applied')).to.equal('wait=60');
    expect(overdrawn.body).to.deep.include({ status: 'rejected', code: 'INSUFFICIENT_FUNDS', reason: 'insufficient funds: balance 100, withdrawal 500', version: 2 });
  });

  it('the same Idempotency-Key again gets the first outcome at once, produces nothing and appends one event', async () => {
    const id = newAccount();
    const key = `deposit-${randomUUID()}`;
    expect((await post(id, { type: 'OpenAccount', data: { owner: 'Bo' } }, { prefer: 'wait=30' })).status).to.equal(201);
    const first = await post(id, { type: 'DepositMoney', data: { amount: 250 } }, { 'idempotency-key': `"${key}"`, prefer: 'wait=30' });
    expect(first.status, JSON.stringify(first.body)).to.equal(200);
    expect(first.body).to.deep.include({ commandId: key, status: 'accepted', version: 2 });
    expect(first.body.events).to.deep.equal([{ id: `${key}-0`, type: 'MoneyDeposited', version: 2 }]);

    const produced = await commandsOnTopic();
    // Bare or quoted, with or without Prefer: answered from the account's processed-command record, not waited for.
    for (const headers of [{ 'idempotency-key': `"${key}"`, prefer: 'wait=30' }, { 'idempotency-key': key }] as Record<string, string>[]) {
      const again = await post(id, { type: 'DepositMoney', data: { amount: 250 } }, headers);
      expect(again.status, JSON.stringify(again.body)).to.equal(200);
      expect(again.headers.get('preference-applied')).to.equal(null);
      expect({ ...again.body, correlationId: undefined }).to.deep.equal({ ...first.body, correlationId: undefined });
    }
    expect(await commandsOnTopic()).to.equal(produced);
    const events = await eventsOf(id);
    expect(events.map((event) => [event.type, event.version])).to.deep.equal([
      ['AccountOpened', 1],
      ['MoneyDeposited', 2],
    ]);
    expect(events[1]!.id).to.equal(`${key}-0`);

    // A rejection is the first outcome too: the re-sent withdrawal is refused again, even once the money is there.
    const withdrawal = `withdraw-${randomUUID()}`;
    const refused = await post(id, { type: 'WithdrawMoney', data: { amount: 1000 } }, { 'idempotency-key': withdrawal, prefer: 'wait=30' });
    expect(refused.status).to.equal(422);
    expect((await post(id, { type: 'DepositMoney', data: { amount: 5000 } }, { prefer: 'wait=30' })).status).to.equal(200);
    const refusedAgain = await post(id, { type: 'WithdrawMoney', data: { amount: 1000 } }, { 'idempotency-key': withdrawal, prefer: 'wait=30' });
    expect(refusedAgain.status).to.equal(422);
    expect(refusedAgain.body).to.deep.include({ code: 'INSUFFICIENT_FUNDS', reason: 'insufficient funds: balance 250, withdrawal 1000', version: 2 });
  });

  it('a key used before for another command is 422 ERR11022, whether the API or the processor finds it; a malformed key is 400 ERR11020', async () => {
    const id = newAccount();
    expect((await post(id, { type: 'OpenAccount', data: { owner: 'Cy' } }, { prefer: 'wait=30' })).status).to.equal(201);
    const key = `reuse-${randomUUID()}`;
    expect((await post(id, { type: 'DepositMoney', data: { amount: 10 } }, { 'idempotency-key': key, prefer: 'wait=30' })).status).to.equal(200);
    const produced = await commandsOnTopic();
    for (const prefer of [{}, { prefer: 'wait=30' }] as Record<string, string>[]) {
      const reused = await post(id, { type: 'DepositMoney', data: { amount: 11 } }, { 'idempotency-key': key, ...prefer });
      expect(reused.status, JSON.stringify(reused.body)).to.equal(422);
      expect(reused.body).to.deep.include({ code: 'ERR11022', description: `Idempotency key ${key} was used before for a different command on account ${id}` });
    }
    expect(await commandsOnTopic(), 'nothing produced for a reused key').to.equal(produced);

    // Sent at once, the second may pass the API's look-up before the first is processed: the processor refuses it.
    const raced = `race-${randomUUID()}`;
    expect((await post(id, { type: 'DepositMoney', data: { amount: 1 } }, { 'idempotency-key': raced })).status).to.equal(202);
    const second = await post(id, { type: 'DepositMoney', data: { amount: 2 } }, { 'idempotency-key': raced, prefer: 'wait=30' });
    expect(second.status, JSON.stringify(second.body)).to.equal(422);
    expect(second.body).to.deep.include({ code: 'ERR11022' });

    const before = await commandsOnTopic();
    const malformed = await post(id, { type: 'DepositMoney', data: { amount: 3 } }, { 'idempotency-key': 'k'.repeat(201) });
    expect(malformed.status).to.equal(400);
    expect(malformed.body).to.deep.include({ code: 'ERR11020', description: 'Request header Idempotency-Key is invalid: it must be 1 to 200 characters of visible ASCII, not 201 characters' });
    expect(await commandsOnTopic()).to.equal(before);
  });

  it('without Prefer it answers 202; when the wait ends before the outcome (the processor is not running) it answers 202 with Preference-Applied', async () => {
    const id = newAccount();
    const accepted = await post(id, { type: 'OpenAccount', data: { owner: 'Di' } });
    expect(accepted.status).to.equal(202);
    expect(accepted.headers.get('preference-applied')).to.equal(null);
    expect(accepted.body.commandId).to.be.a('string');

    await account.service.streams.stop();
    const before = await commandsOnTopic();
    const started = Date.now();
    const late = await post(id, { type: 'DepositMoney', data: { amount: 7 } }, { 'idempotency-key': 'late-1', prefer: 'wait=2' });
    expect(late.status, JSON.stringify(late.body)).to.equal(202);
    expect(Date.now() - started).to.be.at.least(1900);
    expect(late.headers.get('preference-applied')).to.equal('wait=2');
    expect(late.body).to.deep.include({ commandId: 'late-1' });
    expect(await commandsOnTopic(), 'the command was sent: the processor applies it when it runs').to.equal(before + 1n);
  });
});
