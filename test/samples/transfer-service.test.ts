import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { SagaInstance } from '../../index.js';
import type { AccountService } from '../../samples/accounts/account-service.js';
import { DemoTraceCollector } from '../../samples/accounts/trace-collector.js';
import { startTransferService, type TransferService, type TransferServiceTopics } from '../../samples/transfers/transfer-service.js';
import { TRANSFER_SAGA, type Transfer } from '../../samples/transfers/transfer-saga.js';
import { accountTopicsForTest, callJson, freePort, startTestAccounts, type HttpAnswer } from '../fixtures/bank-http.js';
import { useBroker } from '../support/broker.js';
import { JwksServer, makeKey, signToken } from '../support/jwt.js';
import { createTopics, headerText, readToEnd, uniqueName, waitFor, type ReadRecord } from '../support/kafka.js';

describe('transfers sample: the transfer saga over HTTP, across the accounts service @broker', function () {
  this.timeout(240_000);
  let brokers: string;
  let accounts: AccountService;
  let transfers: TransferService;
  let jwks: JwksServer;
  let collector: DemoTraceCollector;
  let token: string;
  let work: string;
  let admin: ReturnType<Kafka['admin']>;
  const accountTopics = accountTopicsForTest('transfer-accounts');
  const accountsApplication = uniqueName('bank-transfers');
  const accountReplies = uniqueName('transfer-account-replies');
  const topics: TransferServiceTopics = { transfers: uniqueName('transfers'), replies: uniqueName('transfer-replies'), outcomes: uniqueName('transfer-outcomes'), accountCommands: accountTopics.commands };
  const startAccounts = (): Promise<AccountService> =>
    startTestAccounts({ instance: 'transfers', brokers, jwksUrl: jwks.url, otlpEndpoint: collector.url, work, applicationId: accountsApplication, topics: accountTopics, replyTopic: accountReplies });

  before(async function () {
    this.timeout(600_000);
    brokers = await useBroker();
    // The saga's start and reply topics are co-partitioned: one task owns a transfer's start and its replies.
    await createTopics([...Object.values(accountTopics), topics.transfers, topics.replies], 3);
    admin = new Kafka({ brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const key = await makeKey('bank');
    jwks = await JwksServer.start([key]);
    // The saga's commands to the accounts service go out under the caller's token: it names both audiences.
    token = await signToken(key, { scope: 'accounts.w transfers.w' }, { issuer: 'urn:bank:auth', audience: ['urn:bank:transfers', 'urn:bank:accounts'] });
    collector = await DemoTraceCollector.start();
    work = mkdtempSync(join(tmpdir(), 'light-kafka-transfers-'));
    accounts = await startAccounts();
    transfers = await startTransferService({
      instance: 'T',
      queryServer: `127.0.0.1:${await freePort()}`,
      jwksUrl: jwks.url,
      stateDir: join(work, 'transfers-state'),
      auditFile: join(work, 'transfers-audit.log'),
      otlpEndpoint: collector.url,
      brokers,
      applicationId: uniqueName('transfers'),
      topics,
      // Longer than the accounts service is down in the last test: the transfer is not compensated for a timeout.
      stepTimeoutMs: 90_000,
    });
    for (const [id, owner] of [['ann', 'Ann'], ['bob', 'Bob']] as const) {
      expect((await postAccount(id, { type: 'OpenAccount', data: { owner } })).status).to.equal(201);
    }
    expect((await postAccount('ann', { type: 'DepositMoney', data: { amount: 1000 } })).status).to.equal(200);
  });

  after(async () => {
    await transfers?.stop();
    await accounts?.stop();
    await admin?.disconnect();
    await collector?.stop();
    await jwks?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const postAccount = (id: string, body: object): Promise<HttpAnswer> => callJson(accounts.port, 'POST', `/accounts/${id}/commands`, token, { body, headers: { prefer: 'wait=30' } });
  const postTransfer = (body: object, headers: Record<string, string>): Promise<HttpAnswer> => callJson(transfers.port, 'POST', '/transfers', token, { body, headers });
  const getTransfer = (id: string): Promise<HttpAnswer> => callJson(transfers.port, 'GET', `/transfers/${id}`, token);
  const balance = async (id: string): Promise<unknown> => (await callJson(accounts.port, 'GET', `/accounts/${id}`, token)).body.balance;
  const startsOnTopic = async (): Promise<bigint> => (await admin.fetchTopicOffsets(topics.transfers)).reduce((sum, { high }) => sum + BigInt(high), 0n);
  const steps = (answer: HttpAnswer): string[] => (answer.body.history as { step: string; event: string }[]).map(({ step, event }) => `${step}:${event}`);
  // Header names are matched as Kafka readers should: case-insensitively (X-Correlation-Id, Authorization, ...).
  const text = (record: ReadRecord, name: string): string => {
    const written = Object.keys(record.headers).find((candidate) => candidate.toLowerCase() === name);
    return written === undefined ? '' : String(headerText(record.headers, written));
  };

  it('Prefer: wait answers how the transfer ended: 200 COMPLETED, 422 COMPENSATED with the reason; GET shows the saga', async () => {
    const completed = await postTransfer({ from: 'ann', to: 'bob', amount: 300 }, { 'idempotency-key': 't-ok', prefer: 'wait=30', 'x-correlation-id': 'corr-t-ok' });
    expect(completed.status, JSON.stringify(completed.body)).to.equal(200);
    expect(completed.headers.get('preference-applied')).to.equal('wait=30');
    expect(completed.body).to.deep.equal({ transferId: 't-ok', correlationId: 'corr-t-ok', status: 'COMPLETED' });

    const refunded = await postTransfer({ from: 'ann', to: 'nobody', amount: 200 }, { 'idempotency-key': 't-refund', prefer: 'wait=30' });
    expect(refunded.status, JSON.stringify(refunded.body)).to.equal(422);
    expect(refunded.body).to.deep.include({ transferId: 't-refund', status: 'COMPENSATED', code: 'SAGA_COMPENSATED', reason: 'step credit failed (NOT_OPEN: the account is not open); the steps before it were compensated' });

    const ok = await getTransfer('t-ok');
    expect(ok.status).to.equal(200);
    expect(ok.body).to.deep.include({ transferId: 't-ok', status: 'COMPLETED', from: 'ann', to: 'bob', amount: 300, stuck: false });
    expect(steps(ok)).to.deep.equal(['-:started', 'debit:sent', 'debit:accepted', 'credit:sent', 'credit:accepted', '-:completed']);
    expect(JSON.stringify(ok.body), 'the saved request context (the caller\'s token) is not shown').to.not.contain(token);
    const refund = await getTransfer('t-refund');
    expect(refund.body).to.deep.include({ status: 'COMPENSATED', failure: { step: 'credit', code: 'NOT_OPEN', reason: 'the account is not open' } });
    expect(steps(refund)).to.deep.equal(['-:started', 'debit:sent', 'debit:accepted', 'credit:sent', 'credit:rejected', 'debit:compensation-sent', 'debit:compensated', '-:compensated-all']);
    expect((await getTransfer('t-none')).status).to.equal(404);
    await waitFor(async () => (await balance('ann')) === 700 && (await balance('bob')) === 300, 20_000, 'the balances after both transfers');
  });

  it('every hop of a transfer carries the caller\'s token, one correlation id and one trace, and names the service that wrote it', async () => {
    const hops: ReadRecord[] = [];
    for (const topic of [topics.transfers, topics.accountCommands, topics.replies, topics.outcomes]) {
      hops.push(...(await readToEnd(topic)).filter((record) => text(record, 'x-correlation-id') === 'corr-t-ok'));
    }
    const byTopic = (topic: string): ReadRecord[] => hops.filter((record) => record.topic === topic);
    expect(byTopic(topics.transfers)).to.have.length(1);
    // Read back in partition order (the two accounts' commands may sit in different partitions), not in time order.
    expect(byTopic(topics.accountCommands).map((record) => (JSON.parse(record.value!) as { id: string }).id)).to.have.members(['t-ok:0:do', 't-ok:1:do']);
    expect(byTopic(topics.replies)).to.have.length(2);
    expect(byTopic(topics.outcomes)).to.have.length(1);
    const traceIds = new Set(hops.map((record) => text(record, 'traceparent').split('-')[1]));
    expect(traceIds.size, [...traceIds].join(', ')).to.equal(1);
    for (const record of hops) expect(text(record, 'authorization'), record.topic).to.equal(`Bearer ${token}`);
    expect(new Set([...byTopic(topics.transfers), ...byTopic(topics.accountCommands), ...byTopic(topics.outcomes)].map((record) => text(record, 'caller_id')))).to.deep.equal(new Set(['transfers-T']));
    expect(new Set(byTopic(topics.replies).map((record) => text(record, 'caller_id')))).to.deep.equal(new Set(['accounts-transfers']));
  });

  it('the same Idempotency-Key again gets the same answer at once and starts nothing; another transfer under it is 422 ERR11022', async () => {
    const before = await startsOnTopic();
    for (const prefer of [{}, { prefer: 'wait=30' }] as Record<string, string>[]) {
      const again = await postTransfer({ from: 'ann', to: 'bob', amount: 300 }, { 'idempotency-key': 't-ok', ...prefer });
      expect(again.status).to.equal(200);
      expect(again.headers.get('preference-applied')).to.equal(null);
      expect(again.body).to.deep.include({ transferId: 't-ok', status: 'COMPLETED' });
    }
    // Worded as the saga's own reply was (answers.ts mirrors saga.ts).
    const refundAgain = await postTransfer({ from: 'ann', to: 'nobody', amount: 200 }, { 'idempotency-key': 't-refund' });
    expect(refundAgain.status).to.equal(422);
    expect(refundAgain.body).to.deep.include({ status: 'COMPENSATED', code: 'SAGA_COMPENSATED', reason: 'step credit failed (NOT_OPEN: the account is not open); the steps before it were compensated' });
    const reused = await postTransfer({ from: 'ann', to: 'bob', amount: 301 }, { 'idempotency-key': 't-ok', prefer: 'wait=30' });
    expect(reused.status).to.equal(422);
    expect(reused.body).to.deep.include({ code: 'ERR11022', description: 'Idempotency key t-ok was used before for a different command on transfer t-ok' });
    expect(await startsOnTopic(), 'nothing started again').to.equal(before);
    expect(await balance('ann')).to.equal(700);
  });

  it('202 while the accounts service is down; the same key with a longer wait then gets how the transfer ended', async () => {
    await accounts.service.streams.stop();
    const body = { from: 'ann', to: 'bob', amount: 50 };
    const accepted = await postTransfer(body, { 'idempotency-key': 't-late' });
    expect(accepted.status).to.equal(202);
    expect(accepted.headers.get('location')).to.equal('/transfers/t-late');
    const short = await postTransfer(body, { 'idempotency-key': 't-late', prefer: 'wait=1' });
    expect(short.status).to.equal(202);
    expect(short.headers.get('preference-applied')).to.equal('wait=1');
    const running = await getTransfer('t-late');
    expect(running.body).to.deep.include({ status: 'RUNNING' });
    expect(steps(running)).to.deep.equal(['-:started', 'debit:sent']);

    // The start sent again with a reply channel: the running saga answers it when the transfer ends.
    const saga = (): SagaInstance<Transfer> | undefined => transfers.service.streams.store<SagaInstance<Transfer>>(TRANSFER_SAGA).get('t-late');
    const seen = saga()!.updatedAt;
    const waiting = postTransfer(body, { 'idempotency-key': 't-late', prefer: 'wait=60' });
    await waitFor(() => saga()!.updatedAt !== seen, 10_000, 'the saga to take the re-sent start');
    await accounts.stop();
    accounts = await startAccounts();
    const ended = await waiting;
    expect(ended.status, JSON.stringify(ended.body)).to.equal(200);
    expect(ended.headers.get('preference-applied')).to.equal('wait=60');
    expect(ended.body).to.deep.include({ transferId: 't-late', status: 'COMPLETED' });
    await waitFor(async () => (await balance('ann')) === 650 && (await balance('bob')) === 350, 20_000, 'the balances after the late transfer');
  });
});
