import { expect } from 'chai';
import { command, defineSaga, LightError, StreamsBuilder, type Command, type CommandReply, type SagaInstance } from '../../index.js';
import { TopologyTestDriver } from '../../testing/index.js';
import { createLogger } from '../../core/logger.js';
import { decideAccount, evolveAccount, initialAccount, type Account } from '../../samples/accounts/domain.js';
import { transferSaga, type Transfer } from '../../samples/transfers/transfer-saga.js';

const TOPICS = { transfers: 'transfers', replies: 'transfer-replies', debit: 'bank-a', credit: 'bank-b', client: 'client-replies' };
const account = (id: string) => ({ type: 'Account', id });

/** A bank's command processor; `refuseRefunds`: that many refunds (compensations) are refused first. */
function bank(builder: StreamsBuilder, name: string, topic: string, refuseRefunds = 0): void {
  let refusals = refuseRefunds;
  builder.stream(topic).processCommands<Account>({
    store: name,
    events: `${name}-events`,
    initial: initialAccount,
    evolve: evolveAccount,
    decide: (state, next) => (next.type === 'DepositMoney' && next.id.includes(':undo:') && refusals-- > 0 ? { reject: 'refunds are closed for now', code: 'TRY_LATER' } : decideAccount(state, next)),
  });
}

/**
 * The orchestrator's service (the saga and bank A, one topology) and bank B (a service of its own). link() carries
 * bank B's commands and replies between them, as Kafka would while bank B runs; not calling it is bank B down.
 */
class World {
  readonly orchestrator: TopologyTestDriver;
  readonly bankB: TopologyTestDriver;
  private carried = { commands: 0, replies: 0 };

  /** What the saga logged (JSON lines). */
  readonly logged: string[] = [];

  constructor(options: { refuseRefunds?: number; retry?: { firstDelayMs?: number; maxDelayMs?: number; stuckAfterAttempts?: number } } = {}) {
    const builder = new StreamsBuilder('transfers');
    bank(builder, 'bank-a', TOPICS.debit, options.refuseRefunds);
    defineSaga(builder, transferSaga(TOPICS, { timeoutMs: 1000, ...(options.retry ? { retry: options.retry } : {}) }));
    this.orchestrator = new TopologyTestDriver(builder.build(), { logger: createLogger({ level: 'info', sink: (line) => this.logged.push(line) }) });
    const other = new StreamsBuilder('bank-b');
    bank(other, 'bank-b', TOPICS.credit);
    this.bankB = new TopologyTestDriver(other.build());
    this.open(this.orchestrator, TOPICS.debit, 'ann', 1000);
    this.open(this.bankB, TOPICS.credit, 'bea', 0);
  }

  private open(driver: TopologyTestDriver, topic: string, id: string, balance: number): void {
    driver.pipe(topic, command('OpenAccount', account(id), { owner: id }), id);
    if (balance > 0) driver.pipe(topic, command('DepositMoney', account(id), { amount: balance }), id);
  }

  link(): this {
    for (let moved = true; moved; ) {
      const commands = this.orchestrator.output(TOPICS.credit).slice(this.carried.commands);
      const replies = this.bankB.output(TOPICS.replies).slice(this.carried.replies);
      this.carried.commands += commands.length;
      this.carried.replies += replies.length;
      for (const { key, value } of commands) this.bankB.pipe(TOPICS.credit, value, key);
      for (const { key, value } of replies) this.orchestrator.pipe(TOPICS.replies, value, key);
      moved = commands.length + replies.length > 0;
    }
    return this;
  }

  start(id: string, transfer: Transfer, replyKey = 'me'): this {
    this.orchestrator.pipe(TOPICS.transfers, command('StartTransfer', { type: 'Transfer', id }, transfer, { replyTo: { topic: TOPICS.client, key: replyKey } }), id);
    return this;
  }

  saga(id: string): SagaInstance<Transfer> {
    return this.orchestrator.store<SagaInstance<Transfer>>('transfers').get(id)!;
  }

  balance(id: string): number {
    const driver = id === 'bea' ? this.bankB : this.orchestrator;
    return driver.store<{ state: Account }>(id === 'bea' ? 'bank-b' : 'bank-a').get(id)!.state.balance;
  }

  outcomes(): CommandReply[] {
    return this.orchestrator.output(TOPICS.client).map(({ value }) => value as CommandReply);
  }

  /** The ids of the commands a bank applied (its events' ids are `<command id>-<n>`). */
  applied(bankName: 'bank-a' | 'bank-b'): string[] {
    const driver = bankName === 'bank-b' ? this.bankB : this.orchestrator;
    return driver.output(`${bankName}-events`).map(({ value }) => (value as { id: string; type: string }))
      .filter(({ type }) => type !== 'CommandRejected')
      .map(({ id }) => id);
  }
}

const steps = (instance: SagaInstance<Transfer>): string[] => instance.history.map(({ step, event }) => `${step}:${event}`);

describe('sagas (defineSaga), in process', () => {
  it('completes the steps in order and answers the start with accepted', () => {
    const world = new World().start('t1', { from: 'ann', to: 'bea', amount: 300 }).link();
    expect(world.saga('t1')).to.include({ status: 'COMPLETED', step: 2, stuck: false });
    expect(steps(world.saga('t1'))).to.deep.equal(['-:started', 'debit:sent', 'debit:accepted', 'credit:sent', 'credit:accepted', '-:completed']);
    expect([world.balance('ann'), world.balance('bea')]).to.deep.equal([700, 300]);
    expect(world.outcomes().map(({ data }) => data)).to.deep.equal([{ status: 'accepted', version: 2, events: [] }]);
    // The commands carry deterministic ids and the saga's reply channel.
    const debit = world.orchestrator.output(TOPICS.debit).map(({ value }) => value as Command).find((sent) => sent.id === 't1:0:do')!;
    expect(debit.replyTo).to.deep.equal({ topic: TOPICS.replies, key: 't1' });
    expect(world.orchestrator.store('transfers.timers').all()).to.deep.equal([]);
  });

  it('counts ended sagas by status from the first one (light_kafka_sagas_ended_total)', async () => {
    const world = new World().start('t1', { from: 'ann', to: 'bea', amount: 300 }).start('t2', { from: 'ann', to: 'nobody', amount: 1 }).link();
    const text = await world.orchestrator.metrics.getSingleMetricAsString('light_kafka_sagas_ended_total');
    expect(text).to.contain('light_kafka_sagas_ended_total{saga="transfers",status="COMPLETED"} 1');
    expect(text).to.contain('light_kafka_sagas_ended_total{saga="transfers",status="COMPENSATED"} 1');
  });

  it('a re-sent start starts nothing; a start for a finished saga answers its outcome again, under the re-sent id', () => {
    const world = new World().start('t1', { from: 'ann', to: 'bea', amount: 300 }).link();
    world.start('t1', { from: 'ann', to: 'bea', amount: 300 }, 'other').link();
    expect(world.balance('ann')).to.equal(700);
    const answers = world.outcomes().map(({ commandId, data }) => [commandId, data.status]);
    expect(answers).to.have.length(2);
    expect(answers[0]![0]).to.equal(world.saga('t1').startId);
    expect(answers[1]![0]).to.not.equal(answers[0]![0]);
    expect(world.orchestrator.output(TOPICS.client).map(({ key }) => key)).to.deep.equal(['me', 'other']);
  });

  it('refuses a start that reuses a saga id for other data (IDEMPOTENCY_KEY_REUSED), leaving the saga as it was', () => {
    const world = new World().start('t1', { from: 'ann', to: 'bea', amount: 300 }).link();
    world.start('t1', { from: 'ann', to: 'bea', amount: 999 }, 'other').link();
    const [, reused] = world.outcomes();
    expect(reused!.data).to.deep.include({ status: 'rejected', code: 'IDEMPOTENCY_KEY_REUSED' });
    expect(world.saga('t1')).to.include({ status: 'COMPLETED' });
    expect(world.saga('t1').data.amount).to.equal(300);
    expect(world.balance('ann')).to.equal(700);
  });

  it('compensates the debit when the credit is rejected, and says why', () => {
    const world = new World().start('t2', { from: 'ann', to: 'nobody', amount: 300 }).link();
    const instance = world.saga('t2');
    expect(instance.status).to.equal('COMPENSATED');
    expect(instance.failure).to.deep.include({ step: 'credit', code: 'NOT_OPEN' });
    expect(world.balance('ann')).to.equal(1000);
    expect(world.outcomes()[0]!.data).to.include({ status: 'rejected', code: 'SAGA_COMPENSATED' });
  });

  it('a step without a reply within its timeout is compensated; its late outcome decides whether it is undone too', () => {
    const world = new World().start('t3', { from: 'ann', to: 'bea', amount: 300 });
    expect(world.saga('t3').status).to.equal('RUNNING');
    world.orchestrator.advanceWallClockTime(500);
    expect(world.saga('t3').status, 'not before the timeout').to.equal('RUNNING');
    world.orchestrator.advanceWallClockTime(600);
    expect(world.saga('t3')).to.include({ status: 'COMPENSATING' });
    expect(world.balance('ann'), 'the debit refunded').to.equal(1000);
    // The credit is asked for again with the same id, later each time: after 1 s, then 2 s.
    expect(world.saga('t3').awaiting.map(({ commandId, sends }) => [commandId, sends])).to.deep.equal([['t3:1:do', 2]]);
    world.orchestrator.advanceWallClockTime(1100);
    expect(world.saga('t3').awaiting[0]!.sends).to.equal(2);
    world.orchestrator.advanceWallClockTime(1000);
    expect(world.saga('t3').awaiting[0]!.sends).to.equal(3);
    // Bank B comes back: it applies the credit once (three sends of one id) and the saga takes it back.
    world.link();
    expect(world.saga('t3').status).to.equal('COMPENSATED');
    expect(world.applied('bank-b').filter((id) => id.startsWith('t3:'))).to.deep.equal(['t3:1:do-0', 't3:1:undo:0-0']);
    expect([world.balance('ann'), world.balance('bea')]).to.deep.equal([1000, 0]);
    expect(world.outcomes()).to.have.length(1);
  });

  it('a first step rejected leaves nothing to compensate', () => {
    const world = new World().start('t4', { from: 'ann', to: 'bea', amount: 5000 }).link();
    expect(world.saga('t4').status).to.equal('COMPENSATED');
    expect(steps(world.saga('t4'))).to.deep.equal(['-:started', 'debit:sent', 'debit:rejected', '-:compensated-all']);
  });

  it('retries a rejected compensation with a new id after a back-off, flags the saga stuck after retry.stuckAfterAttempts, and clears it once it succeeds', async () => {
    const world = new World({ refuseRefunds: 3, retry: { firstDelayMs: 1000, maxDelayMs: 4000, stuckAfterAttempts: 2 } });
    world.start('t5', { from: 'ann', to: 'nobody', amount: 300 }).link();
    expect(world.saga('t5')).to.include({ status: 'COMPENSATING', compensationAttempt: 1, stuck: false });
    world.orchestrator.advanceWallClockTime(1000);
    expect(world.saga('t5')).to.include({ compensationAttempt: 2, stuck: true });
    // The gauge counts the stuck sagas at each punctuation.
    world.orchestrator.advanceWallClockTime(1000);
    expect(await world.orchestrator.metrics.getSingleMetricAsString('light_kafka_sagas_stuck')).to.contain('light_kafka_sagas_stuck{saga="transfers",partition="0"} 1');
    world.orchestrator.advanceWallClockTime(1000);
    world.orchestrator.advanceWallClockTime(4000);
    const instance = world.saga('t5');
    expect(instance).to.include({ status: 'COMPENSATED', stuck: false });
    expect(world.balance('ann')).to.equal(1000);
    // Four refund commands, each its own id; three refused, one applied.
    expect(world.orchestrator.output(TOPICS.debit).map(({ value }) => (value as Command).id).filter((id) => id.includes(':undo:'))).to.deep.equal(['t5:0:undo:0', 't5:0:undo:1', 't5:0:undo:2', 't5:0:undo:3']);
    expect(world.applied('bank-a').filter((id) => id.includes(':undo:'))).to.deep.equal(['t5:0:undo:3-0']);
    expect(steps(instance)).to.include('debit:stuck');
    // Never silent: one error when it was flagged.
    const errors = world.logged.map((line) => JSON.parse(line) as { level: string; msg: string; sagaId?: string }).filter(({ level }) => level === 'error');
    expect(errors.map(({ msg, sagaId }) => [msg, sagaId])).to.deep.equal([['saga stuck: a compensation keeps failing; it goes on being retried', 't5']]);
  });

  it('refuses a saga without steps or with two steps of one name (ERR13013)', () => {
    const definition = transferSaga(TOPICS);
    expect(() => defineSaga(new StreamsBuilder('x'), { ...definition, steps: [] })).to.throw(LightError, /saga transfers has no steps/);
    expect(() => defineSaga(new StreamsBuilder('x'), { ...definition, steps: [definition.steps[0]!, definition.steps[0]!] })).to.throw(LightError, /two steps named debit/);
  });
});
