import { expect } from 'chai';
import { command, defineSaga, LightError, StreamsBuilder, type Command, type CommandReply, type SagaInstance } from '../../index.js';
import { decideAccount, evolveAccount, initialAccount, type Account } from '../../samples/accounts/domain.js';
import { transferSaga, type Transfer } from '../../samples/transfers/transfer-saga.js';
import { InMemoryTopology } from '../fixtures/streams/in-memory-topology.js';

const TOPICS = { transfers: 'transfers', replies: 'transfer-replies', debit: 'bank-a', credit: 'bank-b', client: 'client-replies' };
const account = (id: string) => ({ type: 'Account', id });

/** Two banks (processCommands each) and the transfer saga in one in-memory topology; `refuseRefunds` refunds are refused first. */
function world(options: { refuseRefunds?: number; retry?: { firstDelayMs?: number; maxDelayMs?: number; stuckAfterAttempts?: number } } = {}): InMemoryTopology {
  const builder = new StreamsBuilder('transfers');
  let refusals = options.refuseRefunds ?? 0;
  for (const [name, topic] of [['bank-a', TOPICS.debit], ['bank-b', TOPICS.credit]] as const) {
    builder.stream(topic).processCommands<Account>({
      store: name,
      events: `${name}-events`,
      initial: initialAccount,
      evolve: evolveAccount,
      decide: (state, next) => (name === 'bank-a' && next.type === 'DepositMoney' && next.id.includes(':undo:') && refusals-- > 0 ? { reject: 'refunds are closed for now', code: 'TRY_LATER' } : decideAccount(state, next)),
    });
  }
  defineSaga(builder, transferSaga(TOPICS, { timeoutMs: 1000, ...(options.retry ? { retry: options.retry } : {}) }));
  const topology = new InMemoryTopology(builder);
  const open = (topic: string, id: string, balance: number): void => {
    topology.input(topic, id, command('OpenAccount', account(id), { owner: id }));
    if (balance > 0) topology.input(topic, id, command('DepositMoney', account(id), { amount: balance }));
  };
  open(TOPICS.debit, 'ann', 1000);
  open(TOPICS.credit, 'bea', 0);
  return topology.drain();
}

const start = (topology: InMemoryTopology, id: string, transfer: Transfer): InMemoryTopology =>
  topology.input(TOPICS.transfers, id, command('StartTransfer', { type: 'Transfer', id }, transfer, { replyTo: { topic: TOPICS.client, key: 'me' } })).drain();
const saga = (topology: InMemoryTopology, id: string): SagaInstance<Transfer> => topology.store('transfers').get(id) as SagaInstance<Transfer>;
const steps = (instance: SagaInstance<Transfer>): string[] => instance.history.map(({ step, event }) => `${step}:${event}`);
const balance = (topology: InMemoryTopology, bank: string, id: string): number => (topology.store(bank).get(id) as { state: Account }).state.balance;
const outcome = (topology: InMemoryTopology): CommandReply['data'][] => topology.sentTo(TOPICS.client).map(({ value }) => (value as CommandReply).data);
const appliedIds = (topology: InMemoryTopology, bank: string): string[] => topology.sentTo(`${bank}-events`).map(({ value }) => (value as { id: string }).id);

describe('sagas (defineSaga), in process', () => {
  it('completes the steps in order and answers the start with accepted', () => {
    const topology = start(world(), 't1', { from: 'ann', to: 'bea', amount: 300 });
    expect(saga(topology, 't1')).to.include({ status: 'COMPLETED', step: 2, stuck: false });
    expect(steps(saga(topology, 't1'))).to.deep.equal(['-:started', 'debit:sent', 'debit:accepted', 'credit:sent', 'credit:accepted', '-:completed']);
    expect([balance(topology, 'bank-a', 'ann'), balance(topology, 'bank-b', 'bea')]).to.deep.equal([700, 300]);
    expect(outcome(topology)).to.deep.equal([{ status: 'accepted', version: 2, events: [] }]);
    // The commands carry deterministic ids and the saga's reply channel.
    const debit = topology.sentTo(TOPICS.debit).map(({ value }) => value as Command).find((sent) => sent.id === 't1:0:do')!;
    expect(debit.replyTo).to.deep.equal({ topic: TOPICS.replies, key: 't1' });
    expect(topology.store('transfers.timers').size).to.equal(0);
  });

  it('a re-sent start starts nothing; a start for a finished saga answers its outcome again', () => {
    const topology = start(world(), 't1', { from: 'ann', to: 'bea', amount: 300 });
    const again = command('StartTransfer', { type: 'Transfer', id: 't1' }, { from: 'ann', to: 'bea', amount: 300 }, { replyTo: { topic: TOPICS.client, key: 'other' } });
    topology.input(TOPICS.transfers, 't1', again).drain();
    expect(balance(topology, 'bank-a', 'ann')).to.equal(700);
    // The answer names the re-sent start, so the request that sent it gets it.
    const answers = topology.sentTo(TOPICS.client).map(({ key, value }) => [key, (value as CommandReply).commandId, (value as CommandReply).data.status]);
    expect(answers).to.deep.equal([
      ['me', (topology.store('transfers').get('t1') as SagaInstance).startId, 'accepted'],
      ['other', again.id, 'accepted'],
    ]);
  });

  it('compensates the debit when the credit is rejected, and says why', () => {
    const topology = start(world(), 't2', { from: 'ann', to: 'nobody', amount: 300 });
    const instance = saga(topology, 't2');
    expect(instance.status).to.equal('COMPENSATED');
    expect(instance.failure).to.deep.include({ step: 'credit', code: 'NOT_OPEN' });
    expect(balance(topology, 'bank-a', 'ann')).to.equal(1000);
    expect(outcome(topology)[0]).to.include({ status: 'rejected', code: 'SAGA_COMPENSATED' });
  });

  it('a step without a reply within its timeout is compensated; its late outcome decides whether it is undone too', () => {
    const topology = world();
    topology.held.add(TOPICS.credit);
    start(topology, 't3', { from: 'ann', to: 'bea', amount: 300 });
    expect(saga(topology, 't3').status).to.equal('RUNNING');
    const now = Date.now();
    topology.punctuate(now + 500);
    expect(saga(topology, 't3').status, 'not before the timeout').to.equal('RUNNING');
    topology.punctuate(now + 1100);
    expect(saga(topology, 't3')).to.include({ status: 'COMPENSATING' });
    expect(balance(topology, 'bank-a', 'ann'), 'the debit refunded').to.equal(1000);
    // The credit is asked for again with the same id, later each time: 1 s, then 2 s.
    expect(saga(topology, 't3').awaiting.map(({ commandId, sends }) => [commandId, sends])).to.deep.equal([['t3:1:do', 2]]);
    topology.punctuate(now + 2200);
    expect(saga(topology, 't3').awaiting[0]!.sends).to.equal(2);
    topology.punctuate(now + 3200);
    expect(saga(topology, 't3').awaiting[0]!.sends).to.equal(3);
    // The participant comes back: it applies the credit once (three sends of one id) and the saga takes it back.
    topology.held.delete(TOPICS.credit);
    topology.drain();
    const instance = saga(topology, 't3');
    expect(instance.status).to.equal('COMPENSATED');
    expect(appliedIds(topology, 'bank-b').filter((id) => id.startsWith('t3:'))).to.deep.equal(['t3:1:do-0', 't3:1:undo:0-0']);
    expect([balance(topology, 'bank-a', 'ann'), balance(topology, 'bank-b', 'bea')]).to.deep.equal([1000, 0]);
    expect(outcome(topology)).to.have.length(1);
  });

  it('a timed-out step that the participant never applied ends COMPENSATED with nothing of it to undo', () => {
    const topology = world();
    start(topology, 't4', { from: 'ann', to: 'bea', amount: 5000 });
    // The debit is rejected at once (insufficient funds): nothing to compensate.
    expect(saga(topology, 't4').status).to.equal('COMPENSATED');
    expect(steps(saga(topology, 't4'))).to.deep.equal(['-:started', 'debit:sent', 'debit:rejected', '-:compensated-all']);
  });

  it('retries a rejected compensation with a new id after a back-off, flags the saga stuck after retry.stuckAfterAttempts, and clears it once it succeeds', async () => {
    const topology = world({ refuseRefunds: 3, retry: { firstDelayMs: 100, maxDelayMs: 400, stuckAfterAttempts: 2 } });
    start(topology, 't5', { from: 'ann', to: 'nobody', amount: 300 });
    expect(saga(topology, 't5')).to.include({ status: 'COMPENSATING', compensationAttempt: 1, stuck: false });
    const now = Date.now();
    topology.punctuate(now + 150);
    expect(saga(topology, 't5')).to.include({ compensationAttempt: 2, stuck: true });
    // The gauge counts the stuck sagas at each punctuation.
    topology.punctuate(now + 150);
    expect(await topology.metricsRegistry.getSingleMetricAsString('light_kafka_sagas_stuck')).to.contain('light_kafka_sagas_stuck{saga="transfers",partition="0"} 1');
    topology.punctuate(now + 600);
    topology.punctuate(now + 1200);
    const instance = saga(topology, 't5');
    expect(instance).to.include({ status: 'COMPENSATED', stuck: false });
    expect(balance(topology, 'bank-a', 'ann')).to.equal(1000);
    // Four refund commands, each its own id; three refused, one applied.
    expect(topology.sentTo(TOPICS.debit).map(({ value }) => (value as Command).id).filter((id) => id.includes(':undo:'))).to.deep.equal(['t5:0:undo:0', 't5:0:undo:1', 't5:0:undo:2', 't5:0:undo:3']);
    expect(appliedIds(topology, 'bank-a').filter((id) => id.includes(':undo:') && !id.endsWith('-rejected'))).to.deep.equal(['t5:0:undo:3-0']);
    expect(steps(instance)).to.include('debit:stuck');
  });

  it('refuses a saga without steps or with two steps of one name (ERR13013)', () => {
    const definition = transferSaga(TOPICS);
    expect(() => defineSaga(new StreamsBuilder('x'), { ...definition, steps: [] })).to.throw(LightError, /saga transfers has no steps/);
    expect(() => defineSaga(new StreamsBuilder('x'), { ...definition, steps: [definition.steps[0]!, definition.steps[0]!] })).to.throw(LightError, /two steps named debit/);
  });
});
