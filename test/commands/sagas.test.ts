import { expect } from 'chai';
import { command, defineSaga, LightService, type CommandRequests, type SagaInstance } from '../../index.js';
import { transferSaga, TRANSFER_SAGA, type Transfer } from '../../samples/transfers/transfer-saga.js';
import { cli } from '../support/cli.js';
import { bankTopics, serviceDir, startBank, startedResources, stateFolder } from '../fixtures/streams/bank.js';
import { createTopics, uniqueName, waitFor } from '../support/kafka.js';

const account = (id: string) => ({ type: 'Account', id });

interface Orchestrator {
  service: LightService;
  configDir: string;
  requests: CommandRequests;
  saga(id: string): SagaInstance<Transfer> | undefined;
}

/** The transfer saga's orchestrator (its own streams application) with a reply channel of its own for requests. */
async function startOrchestrator(topics: Parameters<typeof transferSaga>[0], folders: string[], options: Parameters<typeof transferSaga>[1] = {}): Promise<Orchestrator> {
  const configDir = serviceDir('transfers-test', uniqueName('transfers'), stateFolder(folders));
  const service = await LightService.create({ configDir });
  defineSaga(service.streams.builder(), transferSaga(topics, options));
  const requests = service.commandRequests({ replyTopic: uniqueName('transfer-requests'), timeoutMs: 90_000 });
  await service.start();
  return { service, configDir, requests, saga: (id) => service.streams.store<SagaInstance<Transfer>>(TRANSFER_SAGA).get(id) };
}

const balance = (bank: LightService, id: string): number | undefined => bank.streams.store<{ state: { balance: number } }>('accounts').get(id)?.state.balance;

describe('sagas: a transfer across services @broker', function () {
  this.timeout(240_000);
  const { folders, running } = startedResources();

  it('completes a transfer, and refunds the debit when the credit is rejected', async () => {
    const accounts = bankTopics();
    const topics = { transfers: uniqueName('transfers'), replies: uniqueName('transfer-replies'), debit: accounts.commands };
    await createTopics([...Object.values(accounts), topics.transfers, topics.replies], 2);
    const bank = await startBank(uniqueName('bank-saga'), stateFolder(folders), accounts);
    running.push(bank);
    const orchestrator = await startOrchestrator(topics, folders);
    running.push(orchestrator.service);
    const { requests } = orchestrator;
    for (const id of ['ann', 'bob']) await requests.request(accounts.commands, command('OpenAccount', account(id), { owner: id }));
    await requests.request(accounts.commands, command('DepositMoney', account('ann'), { amount: 1000 }));

    const completed = await requests.request(topics.transfers, command('StartTransfer', { type: 'Transfer', id: 't-ok' }, { from: 'ann', to: 'bob', amount: 300 }));
    expect(completed.data).to.include({ status: 'accepted' });
    const compensated = await requests.request(topics.transfers, command('StartTransfer', { type: 'Transfer', id: 't-refund' }, { from: 'ann', to: 'nobody', amount: 200 }));
    expect(compensated.data).to.include({ status: 'rejected', code: 'SAGA_COMPENSATED' });
    expect((compensated.data as { reason: string }).reason).to.contain('step credit failed (NOT_OPEN');

    await waitFor(() => balance(bank, 'ann') === 700 && balance(bank, 'bob') === 300, 20_000, 'the balances after both transfers');
    // The outcome reply and the saga's last state commit together; the orchestrator's local store follows its commit.
    await waitFor(() => orchestrator.saga('t-ok')?.status === 'COMPLETED' && orchestrator.saga('t-refund')?.status === 'COMPENSATED', 10_000, 'both sagas ended in the orchestrator\'s store');
    const ok = orchestrator.saga('t-ok')!;
    expect(ok.status).to.equal('COMPLETED');
    expect(ok.history.map(({ step, event }) => `${step}:${event}`)).to.deep.equal(['-:started', 'debit:sent', 'debit:accepted', 'credit:sent', 'credit:accepted', '-:completed']);
    const refunded = orchestrator.saga('t-refund')!;
    expect(refunded.status).to.equal('COMPENSATED');
    expect(refunded.failure).to.include({ step: 'credit', code: 'NOT_OPEN' });
    expect(refunded.history.map(({ step, event }) => `${step}:${event}`)).to.deep.equal([
      '-:started',
      'debit:sent',
      'debit:accepted',
      'credit:sent',
      'credit:rejected',
      'debit:compensation-sent',
      'debit:compensated',
      '-:compensated-all',
    ]);
    // A re-sent start starts nothing and answers how the saga ended.
    const again = await requests.request(topics.transfers, command('StartTransfer', { type: 'Transfer', id: 't-refund' }, { from: 'ann', to: 'nobody', amount: 200 }));
    expect(again.data).to.include({ status: 'rejected', code: 'SAGA_COMPENSATED' });
    // Under the re-sent start's own id: the one its sender waits for.
    expect(again.commandId).to.not.equal(compensated.commandId);
    expect(balance(bank, 'ann')).to.equal(700);
  });

  it('compensates a transfer whose credit participant is down past the timeout, and takes back the credit applied late', async () => {
    const bankA = bankTopics();
    const bankB = bankTopics();
    const topics = { transfers: uniqueName('transfers'), replies: uniqueName('transfer-replies'), debit: bankA.commands, credit: bankB.commands };
    await createTopics([...Object.values(bankA), ...Object.values(bankB), topics.transfers, topics.replies], 2);
    const a = await startBank(uniqueName('bank-a'), stateFolder(folders), bankA);
    running.push(a);
    const bApplication = uniqueName('bank-b');
    const bState = stateFolder(folders);
    let b = await startBank(bApplication, bState, bankB);
    const orchestrator = await startOrchestrator(topics, folders, { timeoutMs: 2000, checkEveryMs: 200 });
    running.push(orchestrator.service);
    const { requests } = orchestrator;
    await requests.request(bankA.commands, command('OpenAccount', account('ann'), { owner: 'ann' }));
    await requests.request(bankA.commands, command('DepositMoney', account('ann'), { amount: 1000 }));
    await requests.request(bankB.commands, command('OpenAccount', account('bea'), { owner: 'bea' }));
    await b.stop();

    const start = command('StartTransfer', { type: 'Transfer', id: 't-late' }, { from: 'ann', to: 'bea', amount: 250 });
    // Superseded by the start re-sent below: the saga answers the latest start's reply channel.
    void requests.request(topics.transfers, start).catch(() => undefined);
    // The debit is applied, the credit times out: the debit is refunded while the credit's outcome is still unknown.
    await waitFor(() => orchestrator.saga('t-late')?.history.some(({ event, step }) => step === 'debit' && event === 'compensated') === true, 30_000, 'the refund of the debit');
    const waiting = orchestrator.saga('t-late')!;
    expect(waiting.status).to.equal('COMPENSATING');
    expect(waiting.failure).to.include({ step: 'credit', code: 'TIMEOUT' });
    expect(waiting.awaiting.map(({ commandId }) => commandId)).to.deep.equal(['t-late:1:do']);
    await waitFor(() => balance(a, 'ann') === 1000, 10_000, 'the refund in bank A');
    // The light-kafka command shows it from the changelog: compensating, waiting for the credit's outcome.
    const listed = await cli(['sagas', TRANSFER_SAGA, '--config', orchestrator.configDir]);
    expect(listed.out).to.match(/^t-late {2}COMPENSATING {2}age \d+ s {2}waiting for step 1 \(t-late:1:do, sent \d+x\).* {2}failed at credit: TIMEOUT no reply within 2000 ms$/m);
    expect(listed.out).to.contain(`${TRANSFER_SAGA}: 0 running, 1 compensating (0 stuck), 0 completed, 0 compensated`);

    // The start sent again while the saga runs (a new id, as from a sender whose wait ran out): it is told the outcome.
    const resent = requests.request(topics.transfers, { ...start, id: 't-late-resent' });
    await waitFor(() => orchestrator.saga('t-late')?.startId === 't-late-resent', 10_000, 'the saga to take the re-sent start\'s reply channel');
    // Bank B comes back: it applies the credit (once, however often it was sent) and the saga takes it back.
    b = await startBank(bApplication, bState, bankB);
    running.push(b);
    const ended = await resent;
    expect(ended.commandId).to.equal('t-late-resent');
    expect(ended.data).to.include({ status: 'rejected', code: 'SAGA_COMPENSATED' });
    // The reply and the saga's last state commit together; the orchestrator's local store follows its commit.
    await waitFor(() => orchestrator.saga('t-late')?.status === 'COMPENSATED', 10_000, 'the saga ended in the orchestrator\'s store');
    const saga = orchestrator.saga('t-late')!;
    const events = saga.history.map(({ step, event }) => `${step}:${event}`);
    expect(events.slice(0, 6)).to.deep.equal(['-:started', 'debit:sent', 'debit:accepted', 'credit:sent', 'credit:timed-out', 'credit:resent']);
    expect(events).to.include.members(['debit:compensation-sent', 'debit:compensated', 'credit:accepted', 'credit:compensation-sent', 'credit:compensated']);
    expect(events[events.length - 1]).to.equal('-:compensated-all');
    await waitFor(() => balance(b, 'bea') === 0, 10_000, 'the late credit taken back');
    expect(balance(a, 'ann')).to.equal(1000);
    const beaEvents = b.streams.store<{ version: number }>('accounts').get('bea')!;
    // Opened, credited once, debited once: the re-sent credit was not applied twice.
    expect(beaEvents.version).to.equal(3);
  });
});
