import { expect } from 'chai';
import { command, HeaderNames, LightError, LightService, RecordHeaders, runWithContext, type CommandRequests, type Event } from '../../index.js';
import { TypedMap } from '../../core/attachments.js';
import { bankTopics, serviceDir, startBank, startedResources, stateFolder } from '../fixtures/streams/bank.js';
import { createTopics, headerText, readToEnd, uniqueName, waitFor } from '../support/kafka.js';

const account = (id: string) => ({ type: 'Account', id });

/** A service that only sends commands and awaits their replies. */
async function startRequester(replyTopic: string, folders: string[], extraFiles: Record<string, string> = {}): Promise<{ service: LightService; requests: CommandRequests }> {
  const service = await LightService.create({ configDir: serviceDir('requester-test', undefined, stateFolder(folders), extraFiles) });
  const requests = service.commandRequests({ replyTopic, timeoutMs: 60_000 });
  await service.start();
  return { service, requests };
}

describe('idempotent commands and command replies @broker', function () {
  this.timeout(240_000);
  const { folders, running } = startedResources();

  it('one command id sent before and after a restart, and to another instance after a rebalance: one event, the same outcome every time', async () => {
    const topics = bankTopics();
    const replies = uniqueName('bank-replies');
    await createTopics(Object.values(topics), 3);
    const applicationId = uniqueName('bank-idem');
    const { service: requester, requests } = await startRequester(replies, folders);
    running.push(requester);
    const bankState = stateFolder(folders);
    let bank = await startBank(applicationId, bankState, topics);
    const opened = await requests.request(topics.commands, command('OpenAccount', account('acc-1'), { owner: 'Ann' }));
    expect(opened.data).to.deep.include({ status: 'accepted', version: 1 });
    const deposit = command('DepositMoney', account('acc-1'), { amount: 500 }, { id: 'deposit-1' });

    const first = await requests.request(topics.commands, deposit);
    // A consumer restart: the same state folder, the same group.
    await bank.stop();
    bank = await startBank(applicationId, bankState, topics);
    const second = await requests.request(topics.commands, { ...deposit, timestamp: new Date().toISOString() });
    const third = await requests.request(topics.commands, deposit);
    // Another instance joins, then the first leaves: the new one owns every partition, restored from the changelogs.
    const other = await startBank(applicationId, stateFolder(folders), topics);
    running.push(other);
    await waitFor(() => other.streams.localTasks().some((task) => task.open), 60_000, 'the second instance to own a task');
    await bank.stop();
    await waitFor(() => other.streams.localTasks().length === 3 && other.streams.localTasks().every((task) => task.open), 60_000, 'the second instance to own every task');
    const fourth = await requests.request(topics.commands, deposit);

    for (const reply of [first, second, third, fourth]) {
      expect(reply.type).to.equal('CommandAccepted');
      expect(reply.commandId).to.equal('deposit-1');
      expect(reply.data).to.deep.equal({ status: 'accepted', version: 2, events: [{ id: 'deposit-1-0', type: 'MoneyDeposited', version: 2 }] });
    }
    const events = (await readToEnd(topics.events)).map((record) => JSON.parse(record.value!) as Event);
    expect(events.filter((event) => event.aggregateId === 'acc-1').map((event) => [event.type, event.version])).to.deep.equal([
      ['AccountOpened', 1],
      ['MoneyDeposited', 2],
    ]);

    // The same id with a different body: refused, nothing appended; the first outcome stays.
    const reused = await requests.request(topics.commands, command('DepositMoney', account('acc-1'), { amount: 9 }, { id: 'deposit-1' }));
    expect(reused.data).to.include({ status: 'rejected', code: 'IDEMPOTENCY_KEY_REUSED' });
    const again = await requests.request(topics.commands, deposit);
    expect(again.data).to.deep.include({ status: 'accepted', version: 2 });
    // A rejection is remembered as well: the re-sent withdrawal gets INSUFFICIENT_FUNDS again, even once money came in.
    const tooMuch = command('WithdrawMoney', account('acc-1'), { amount: 800 }, { id: 'withdraw-1' });
    expect((await requests.request(topics.commands, tooMuch)).data).to.include({ status: 'rejected', code: 'INSUFFICIENT_FUNDS', version: 2 });
    await requests.request(topics.commands, command('DepositMoney', account('acc-1'), { amount: 1000 }));
    expect((await requests.request(topics.commands, tooMuch)).data).to.include({ status: 'rejected', code: 'INSUFFICIENT_FUNDS', version: 2 });
    expect(other.streams.store<{ state: { balance: number } }>('accounts').get('acc-1')!.state.balance).to.equal(1500);
  });

  it('a request times out with ERR12016 when nobody answers, and a reply for an instance that has gone away is skipped by the others', async () => {
    const topics = bankTopics();
    const replies = uniqueName('bank-replies');
    await createTopics(Object.values(topics), 2);
    await createTopics([replies], 2);
    const gone = await startRequester(replies, folders);
    const alive = await startRequester(replies, folders);
    running.push(alive.service);
    // No processor yet: the request times out, saying the command may still be applied.
    const started = Date.now();
    const error = await gone.requests.request(topics.commands, command('OpenAccount', account('acc-g'), { owner: 'Gus' }), { timeoutMs: 1500 }).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(Date.now() - started).to.be.at.least(1400);
    expect(error).to.be.instanceOf(LightError);
    expect((error as LightError).code).to.equal('ERR12016');
    expect((error as LightError).message).to.contain('may still be applied later');
    // A request still waiting when its service stops is rejected at once (ERR12017)...
    const waiting = gone.requests.request(topics.commands, command('OpenAccount', account('acc-h'), { owner: 'Hal' })).then(
      () => 'resolved',
      (failure: LightError) => failure.code,
    );
    await waitFor(() => gone.requests.pending === 1, 5000, 'the request to be sent');
    await gone.service.stop();
    expect(await waiting).to.equal('ERR12017');
    // ...and its reply, written once the processor runs, goes to a reply channel nobody reads: the alive instance skips it.
    const bank = await startBank(uniqueName('bank-rr'), stateFolder(folders), topics);
    running.push(bank);
    const reply = await alive.requests.request(topics.commands, command('OpenAccount', account('acc-h'), { owner: 'Hal' }, { id: 'open-h-again' }));
    expect(reply.data).to.include({ status: 'rejected', code: 'ALREADY_OPEN' });
    const all = (await readToEnd(replies)).map((record) => ({ key: record.key, reply: JSON.parse(record.value!) as { commandId: string } }));
    expect(all.map(({ key }) => key)).to.include.members([gone.requests.instanceId, alive.requests.instanceId]);
  });

  it('runs the chains on the reply hop: the reply carries the request\'s correlation and traceability ids, the command\'s metadata names the caller', async () => {
    const topics = bankTopics();
    const replies = uniqueName('bank-replies');
    await createTopics([...Object.values(topics), replies], 2);
    const chains = { 'handler.yml': 'handlers: [correlation, kafka/producer@producer]\nchains:\n  out: [correlation, producer]\ndefaultHandlers:\n  produce: [out]\n  consume: [correlation]\n' };
    const bank = await startBank(uniqueName('bank-chain'), stateFolder(folders), topics, chains);
    running.push(bank);
    const { service, requests } = await startRequester(replies, folders, chains);
    running.push(service);
    const context = { headers: new RecordHeaders().set(HeaderNames.correlationId, 'corr-reply-1').set(HeaderNames.traceabilityId, 'trace-reply-1'), values: new TypedMap() };
    const reply = await runWithContext(context, () => requests.request(topics.commands, command('OpenAccount', account('acc-c'), { owner: 'Cy' })));
    expect(reply.metadata).to.deep.equal({ correlationId: 'corr-reply-1', traceabilityId: 'trace-reply-1', callerId: 'requester-test' });
    const [record] = (await readToEnd(replies)).filter((candidate) => candidate.key === requests.instanceId);
    expect(headerText(record!.headers, HeaderNames.correlationId)).to.equal('corr-reply-1');
    expect(headerText(record!.headers, HeaderNames.traceabilityId)).to.equal('trace-reply-1');
    // The hop before the reply was the bank's: it is the reply's immediate caller.
    expect(headerText(record!.headers, HeaderNames.callerId)).to.equal('bank-test');
    const [sent] = await readToEnd(topics.commands);
    expect(headerText(sent!.headers, HeaderNames.callerId)).to.equal('requester-test');
  });
});
