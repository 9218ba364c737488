import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { AssignerProtocol, Kafka, logLevel, type Admin } from 'kafkajs';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { command, LightService, type CommandReply, type CommandRequests, type Event, type SagaInstance } from '../../index.js';
import type { KafkaHandle } from '../../scripts/kafka-local.js';
import type { AccountTopics } from '../../samples/accounts/domain.js';
import { TRANSFER_SAGA, type Transfer, type TransferTopics } from '../../samples/transfers/transfer-saga.js';
import { useCluster } from '../support/cluster.js';
import { configDir, serviceYml } from '../support/config-dir.js';
import { describeGroup, groupTimingLines, testGroupProtocol } from '../support/group-protocol.js';
import { uniqueName, waitFor } from '../support/kafka.js';
import { retryTransient } from '../../core/kafka/transient.js';

/**
 * The transfer saga (samples/transfers) under process crashes, on the local 3-broker cluster (replication factor 3,
 * min.insync.replicas 2): two orchestrator instances and two accounts instances (the saga's participant), each a
 * LightService in a process of its own, run 500 concurrent transfers between 50 accounts — 300 at once, the other 200
 * at once when the killed instances are back. The orchestrator is killed with SIGKILL once the first sagas ended, the
 * participant once the orchestrator's survivor took its partitions over; each starts again on its state folder once
 * its own survivor took over. The saga timeout (5 s) is shorter than a fail-over (session timeout 6 s, then a
 * rebalance: 8-14 s measured), so the kills make steps time out and exercise the timeout and compensation paths; it
 * was 3 s, which on the 2-core CI machine under a 300-saga burst left runs with no saga COMPLETED at all. A tenth of the transfers credit an account
 * that was never opened and a tenth ask for more than all the money there is: those must end COMPENSATED, the others
 * COMPLETED (or COMPENSATED after a timeout).
 *
 * What a user relies on, checked on what Kafka holds (read with plain kafkajs consumers, read_committed), once every
 * command and reply was consumed:
 * - every saga ends, COMPLETED or COMPENSATED, within SAGA_BOUND_MS of its start, and its requester is told once;
 * - no step or compensation is applied twice: per command id at most one event on the accounts event topic (and at
 *   most one rejection, never both), each account's versions 1, 2, 3... without gap or repeat;
 * - no compensation without its step: an `:undo:` event only where the saga's `:do` event of that step exists;
 * - money is neither created nor lost: a COMPLETED transfer moved its amount once, a COMPENSATED one took back each
 *   step it applied, no balance went below zero, the total of the balances is what was deposited, and the accounts
 *   store (its changelog) agrees with the events.
 */
const TRANSFERS = 500;
const ACCOUNTS = 50;
/** Accounts acc-0 .. acc-44 are opened with SEED cents each; acc-45 .. acc-49 never are. */
const OPENED = 45;
const SEED = 10_000;
/** More than all the money there is: such a debit is always refused. */
const TOO_LARGE = OPENED * SEED + 1;
const PARTITIONS = 4;
const SAGA_OPTIONS = { timeoutMs: 5000, checkEveryMs: 250, retry: { firstDelayMs: 500, maxDelayMs: 5000, stuckAfterAttempts: 5 } };
/** Sent at once at the start; the rest at once when the killed instances are back. */
const FIRST_WAVE = 300;
/** The bound: every saga ends within this long of its start (the test fails past it). */
const SAGA_BOUND_MS = 120_000;

type Designed = 'ok' | 'to-unopened' | 'too-large';

interface Planned {
  id: string;
  transfer: Transfer;
  designed: Designed;
}

/** Transfer i: every 10th from 3 credits an account never opened, every 10th from 7 asks for too much. */
function plan(): Planned[] {
  return Array.from({ length: TRANSFERS }, (_, i) => {
    const designed: Designed = i % 10 === 3 ? 'to-unopened' : i % 10 === 7 ? 'too-large' : 'ok';
    const from = `acc-${i % OPENED}`;
    // (7i + 11) mod 45 is never i mod 45: no transfer to itself.
    const to = designed === 'to-unopened' ? `acc-${OPENED + (i % (ACCOUNTS - OPENED))}` : `acc-${(i * 7 + 11) % OPENED}`;
    const amount = designed === 'too-large' ? TOO_LARGE : 1 + ((i * 37) % 100);
    return { id: `t${i}`, transfer: { from, to, amount }, designed };
  });
}

/** A LightService in a child process (test/fixtures/streams/*-process.js), started again on the same arguments. */
class Instance {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** The last lines it printed (its log, at warn): shown when the test fails. */
  readonly output: string[] = [];

  constructor(
    readonly name: string,
    private readonly script: string,
    private readonly args: string[],
  ) {}

  /** Starts the process; resolves once it printed "started", rejects if it exits first or within 120 s it did not. */
  start(): Promise<void> {
    const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist', 'test', 'fixtures', 'streams', this.script), ...this.args], {
      env: { ...process.env, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} did not start within 120 s`)), 120_000);
      const onLine = (line: string): void => {
        this.output.push(line);
        if (this.output.length > 400) this.output.shift();
        if (line === 'started') {
          clearTimeout(timer);
          resolve();
        }
      };
      createInterface({ input: child.stdout! }).on('line', onLine);
      createInterface({ input: child.stderr! }).on('line', onLine);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${signal ?? code}) before it started`));
      });
    });
  }

  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (a graceful stop), SIGKILL after 40 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    await this.exited;
    clearTimeout(timer);
  }
}

interface ReadRecord {
  partition: number;
  offset: bigint;
  key: string | null;
  value: string | null;
}

/** Rejects with `what` when `promise` has not settled within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

describe('sagas under process crashes on a 3-broker cluster @cluster', function () {
  this.timeout(900_000);
  let cluster: KafkaHandle;
  let kafka: Kafka;

  before(async function () {
    this.timeout(300_000);
    // The run's shared cluster (test/support/cluster.ts): started by the suite runner, or here on first use.
    cluster = await useCluster();
    kafka = new Kafka({ brokers: cluster.brokers.split(','), clientId: 'saga-kill-test', logLevel: logLevel.NOTHING });
  });

  async function createTopics(admin: Admin, topics: string[]): Promise<void> {
    await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: PARTITIONS, replicationFactor: 3 })), waitForLeaders: false });
    await waitFor(
      () =>
        admin
          .fetchTopicMetadata({ topics })
          .then((metadata) => metadata.topics.every(({ partitions }) => partitions.length === PARTITIONS && partitions.every((partition) => partition.leader >= 0 && partition.isr.length === 3)))
          .catch(() => false),
      60_000,
      `leaders and in-sync replicas of ${topics.join(', ')}`,
    );
  }

  /** A consumer group's state, its members, and how many partitions each member is assigned. */
  async function group(admin: Admin, groupId: string): Promise<{ state: string; members: number; partitions: number[] }> {
    if (testGroupProtocol() === 'consumer') {
      // kafkajs describes classic groups only.
      const { state, partitions } = await describeGroup(cluster.brokers, groupId);
      return { state, members: partitions.length, partitions };
    }
    const [description] = (await admin.describeGroups([groupId])).groups;
    const partitions = (description?.members ?? []).map(({ memberAssignment }) => {
      const decoded = memberAssignment.length > 0 ? AssignerProtocol.MemberAssignment.decode(memberAssignment) : null;
      return Object.values(decoded?.assignment ?? {}).reduce((sum, list) => sum + list.length, 0);
    });
    return { state: description?.state ?? 'Dead', members: description?.members.length ?? 0, partitions };
  }

  /** Until a streams application's group is stable with `members` members, each with partitions of its own. */
  function settled(admin: Admin, applicationId: string, members: number, what: string): Promise<void> {
    return waitFor(
      async () => {
        const state = await group(admin, applicationId);
        return state.state === 'Stable' && state.members === members && state.partitions.every((count) => count > 0);
      },
      60_000,
      what,
    );
  }

  /**
   * Every committed record of a topic up to its end offsets at the call, read with a plain kafkajs consumer
   * (read_committed): a partition is read once the consumer passed its last offset, transaction markers included.
   */
  async function readCommitted(topic: string): Promise<ReadRecord[]> {
    const admin = kafka.admin();
    await admin.connect();
    const ends = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
    const last = new Map(ends.filter(({ high, low }) => BigInt(high) > BigInt(low)).map(({ partition, high }) => [partition, BigInt(high) - 1n]));
    const records: ReadRecord[] = [];
    const consumer = kafka.consumer({ groupId: uniqueName('saga-kill-reader'), readUncommitted: false, maxWaitTimeInMs: 100 });
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      const end = last.get(payload.partition);
      if (end !== undefined && BigInt(payload.lastOffset) >= end) last.delete(payload.partition);
      if (last.size === 0) done();
    });
    if (last.size === 0) done();
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ partition, message }) => {
          records.push({ partition, offset: BigInt(message.offset), key: message.key?.toString('utf8') ?? null, value: message.value?.toString('utf8') ?? null });
        },
      });
      await within(finished, 120_000, `reading ${topic} to its end`);
    } finally {
      await consumer.disconnect();
    }
    return records.sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
  }

  /** The last value of each key of a (changelog) topic. */
  async function lastValues<V>(topic: string): Promise<Map<string, V>> {
    const values = new Map<string, V>();
    for (const record of await readCommitted(topic)) {
      if (record.value === null) values.delete(record.key!);
      else values.set(record.key!, JSON.parse(record.value) as V);
    }
    return values;
  }

  /** Until the group has committed past the last record of each partition of `topics`: every input processed. */
  async function consumedAll(admin: Admin, groupId: string, topics: string[]): Promise<void> {
    for (const topic of topics) {
      const lastRecord = new Map<number, bigint>();
      for (const record of await readCommitted(topic)) lastRecord.set(record.partition, record.offset);
      await waitFor(
        async () => {
          const [committed] = await retryTransient(() => admin.fetchOffsets({ groupId, topics: [topic] }), 30_000, () => undefined);
          return [...lastRecord].every(([partition, offset]) => BigInt(committed?.partitions.find((entry) => entry.partition === partition)?.offset ?? '-1') > offset);
        },
        60_000,
        `${groupId} to commit past every record of ${topic}`,
      );
    }
  }

  it('500 transfers while an orchestrator and a participant are killed (SIGKILL) and restarted: each saga ends within the bound, nothing applied twice, no money made or lost', async () => {
    const account: AccountTopics = { commands: uniqueName('saga-kill-commands'), events: uniqueName('saga-kill-events'), rejections: uniqueName('saga-kill-rejections') };
    const sagaTopics: TransferTopics = { transfers: uniqueName('saga-kill-transfers'), replies: uniqueName('saga-kill-replies'), debit: account.commands };
    const outcomes = uniqueName('saga-kill-outcomes');
    const bankApplication = uniqueName('saga-kill-bank');
    const orchestratorApplication = uniqueName('saga-kill-orchestrator');
    const folders: string[] = [];
    const folder = (dir: string): string => (folders.push(dir), dir);
    const instanceConfig = (serviceId: string, applicationId: string): string =>
      folder(
        configDir({
          'service.yml': serviceYml(serviceId, 'stopTimeoutMs: 20000\n'),
          'kafka-consumer.yml': `properties:\n  bootstrap.servers: ${cluster.brokers}\n  group.id: ${uniqueName('saga-kill-unused')}\n`,
          'kafka-producer.yml': `properties:\n  bootstrap.servers: ${cluster.brokers}\n`,
          'kafka-streams.yml': `properties:
  bootstrap.servers: ${cluster.brokers}
  application.id: ${applicationId}
  processing.guarantee: exactly_once
  state.dir: ${folder(mkdtempSync(join(tmpdir(), 'light-kafka-saga-kill-')))}
  commit.interval.ms: 100
${groupTimingLines(6000, 1000, 'consumer.')}`,
        }),
      );
    const banks = [0, 1].map((n) => new Instance(`accounts-${n}`, 'bank-process.js', [instanceConfig(`saga-kill-accounts-${n}`, bankApplication), JSON.stringify(account)]));
    const orchestrators = [0, 1].map(
      (n) => new Instance(`orchestrator-${n}`, 'saga-orchestrator-process.js', [instanceConfig(`saga-kill-orchestrator-${n}`, orchestratorApplication), JSON.stringify(sagaTopics), JSON.stringify(SAGA_OPTIONS)]),
    );
    const instances = [...banks, ...orchestrators];
    const admin = kafka.admin();
    await admin.connect();
    let requester: LightService | undefined;
    try {
      await createTopics(admin, [...Object.values(account), sagaTopics.transfers, sagaTopics.replies, outcomes]);
      await Promise.all(instances.map((instance) => instance.start()));
      for (const applicationId of [bankApplication, orchestratorApplication]) await settled(admin, applicationId, 2, `both instances of ${applicationId} with partitions`);
      // The user: a service that sends commands and awaits their outcomes (command requests).
      requester = await LightService.create({
        configDir: folder(
          configDir({
            'service.yml': serviceYml('saga-kill-requester', 'stopTimeoutMs: 20000\n'),
            'kafka-consumer.yml': `properties:\n  bootstrap.servers: ${cluster.brokers}\n  group.id: ${uniqueName('saga-kill-requester')}\n`,
            'kafka-producer.yml': `properties:\n  bootstrap.servers: ${cluster.brokers}\n`,
          }),
        ),
      });
      const requests: CommandRequests = requester.commandRequests({ replyTopic: outcomes, timeoutMs: SAGA_BOUND_MS + 60_000 });
      await requester.start();
      const transport = requester.transport;

      // The accounts: 45 opened with 10,000 cents each; 5 never opened.
      const opened = Array.from({ length: OPENED }, (_, i) => `acc-${i}`);
      const setup = async (type: string, data: (id: string) => unknown, idOf: (id: string) => string): Promise<void> => {
        const replies = await Promise.all(opened.map((id) => requests.request(account.commands, command(type, { type: 'Account', id }, data(id), { id: idOf(id) }), { timeoutMs: 60_000 })));
        for (const reply of replies) expect(reply.data, `${type} ${reply.aggregateId}`).to.include({ status: 'accepted' });
      };
      await setup('OpenAccount', (id) => ({ owner: id }), (id) => `open-${id}`);
      await setup('DepositMoney', () => ({ amount: SEED }), (id) => `seed-${id}`);

      // The transfers: 300 at once, the other 200 at once when the killed instances are back in their groups; each
      // request resolves with its saga's outcome.
      const planned = plan();
      const sentAt = new Map<string, number>();
      const ended = new Map<string, { reply: CommandReply; at: number }>();
      const failed = new Map<string, unknown>();
      const send = (wave: Planned[]): void => {
        for (const { id, transfer } of wave) {
          sentAt.set(id, Date.now());
          requests.request(sagaTopics.transfers, command('StartTransfer', { type: 'Transfer', id }, transfer, { id: `start-${id}` })).then(
            (reply) => void ended.set(id, { reply, at: Date.now() }),
            (error: unknown) => void failed.set(id, error),
          );
        }
      };
      const endedAtLeast = (count: number, what: string): Promise<void> =>
        waitFor(
          () => {
            if (failed.size > 0) throw new Error(`${failed.size} transfer request(s) failed, first ${[...failed.keys()][0]}: ${String([...failed.values()][0])}`);
            return ended.size >= count;
          },
          SAGA_BOUND_MS,
          what,
        );
      const firstSent = Date.now();
      send(planned.slice(0, FIRST_WAVE));

      // The kills, mid-run: the orchestrator once the first sagas ended (the whole path works), the participant once
      // the orchestrator's survivor took its partitions over (so the survivor's sagas wait on a participant that is
      // gone). Each killed instance starts again on its state folder once its own survivor took over, and is back
      // when its group holds both instances again, each with partitions of its own.
      const kills: { name: string; endedBefore: number; at: number; backAt?: number }[] = [];
      const kill = async (instance: Instance): Promise<(typeof kills)[number]> => {
        const entry = { name: instance.name, endedBefore: ended.size, at: Date.now() };
        kills.push(entry);
        await instance.kill();
        return entry;
      };
      const takenOver = (applicationId: string): Promise<void> => settled(admin, applicationId, 1, `the survivor of ${applicationId} to take the partitions over`);
      const restart = async (instance: Instance, applicationId: string, entry: (typeof kills)[number]): Promise<void> => {
        await instance.start();
        await settled(admin, applicationId, 2, `${instance.name} back in ${applicationId} with partitions of its own`);
        entry.backAt = Date.now();
      };
      await endedAtLeast(1, 'the first saga to end');
      const orchestratorKill = await kill(orchestrators[0]!);
      await takenOver(orchestratorApplication);
      const participantKill = await kill(banks[0]!);
      await Promise.all([
        restart(orchestrators[0]!, orchestratorApplication, orchestratorKill),
        takenOver(bankApplication).then(() => restart(banks[0]!, bankApplication, participantKill)),
      ]);
      for (const entry of kills) expect(entry.endedBefore, `sagas ended before ${entry.name} was killed`).to.be.at.most(FIRST_WAVE - 50);
      const lastBack = Math.max(...kills.map((entry) => entry.backAt!));
      const inFlightAtRestart = FIRST_WAVE - ended.size;
      send(planned.slice(FIRST_WAVE));
      const lastSent = Date.now();

      // Every saga ends within the bound.
      try {
        await endedAtLeast(TRANSFERS, `all ${TRANSFERS} sagas to end`);
      } catch (error) {
        const open = planned.filter(({ id }) => !ended.has(id)).map(({ id }) => id);
        throw new Error(`${(error as Error).message}; not ended: ${open.length} (${open.slice(0, 20).join(', ')})`);
      }
      const allEnded = Date.now();
      const durations = planned.map(({ id }) => ended.get(id)!.at - sentAt.get(id)!).sort((a, b) => a - b);
      const longest = durations[durations.length - 1]!;
      expect(longest, 'the longest saga (ms)').to.be.at.most(SAGA_BOUND_MS);

      // Every command and reply consumed (re-sent commands too): nothing is left that could still be applied after the
      // checks below. Then the instances stop, so no transaction is open while the topics are read.
      await consumedAll(admin, bankApplication, [account.commands]);
      await consumedAll(admin, orchestratorApplication, [sagaTopics.transfers, sagaTopics.replies]);
      await Promise.all(instances.map((instance) => instance.stop()));
      await requester.stop();
      requester = undefined;

      // The outcomes the requester was told.
      const status = new Map<string, 'COMPLETED' | 'COMPENSATED'>();
      for (const { id } of planned) {
        const { reply } = ended.get(id)!;
        if (reply.data.status === 'accepted') status.set(id, 'COMPLETED');
        else {
          expect(reply.data, `outcome of ${id}`).to.include({ code: 'SAGA_COMPENSATED' });
          status.set(id, 'COMPENSATED');
        }
      }
      const completed = [...status.values()].filter((value) => value === 'COMPLETED').length;
      const compensated = [...status.values()].filter((value) => value === 'COMPENSATED').length;
      expect(completed, 'COMPLETED').to.be.above(0);
      expect(compensated, 'COMPENSATED').to.be.above(0);
      expect(completed + compensated).to.equal(TRANSFERS);
      for (const { id, designed } of planned) if (designed !== 'ok') expect(status.get(id), `${id} (${designed})`).to.equal('COMPENSATED');

      // Each saga told its requester once (the outcome is written in the transaction that ends the saga).
      const toldPerStart = new Map<string, number>();
      for (const record of await readCommitted(outcomes)) {
        const reply = JSON.parse(record.value!) as CommandReply;
        toldPerStart.set(reply.commandId, (toldPerStart.get(reply.commandId) ?? 0) + 1);
      }
      for (const { id } of planned) expect(toldPerStart.get(`start-${id}`), `outcomes of ${id}`).to.equal(1);

      // The sagas as their store holds them (its changelog): ended as the requester was told, nothing awaited.
      const sagas = await lastValues<SagaInstance<Transfer>>(`${orchestratorApplication}-${TRANSFER_SAGA}-changelog`);
      const firstKill = Math.min(...kills.map((entry) => entry.at));
      let timedOut = 0;
      let timedOutBeforeKills = 0;
      let lateStepsTakenBack = 0;
      for (const { id } of planned) {
        const saga = sagas.get(id);
        expect(saga?.status, `stored status of ${id}`).to.equal(status.get(id));
        expect(saga!.awaiting, `${id} awaits nothing`).to.deep.equal([]);
        expect(saga!.stuck, `${id} stuck`).to.equal(false);
        const timeout = saga!.history.find(({ event }) => event === 'timed-out');
        if (timeout) timedOut++;
        if (timeout && Date.parse(timeout.at) < firstKill) timedOutBeforeKills++;
        if (saga!.history.some(({ event, step }) => event === 'compensated' && step === 'credit')) lateStepsTakenBack++;
      }
      // The kills made steps time out (the saga timeout is shorter than a fail-over): the timeout path ran.
      expect(timedOut - timedOutBeforeKills, 'sagas with a step that timed out after the first kill').to.be.above(0);

      // The accounts event topic: each command applied at most once, each account's history without gap or repeat.
      const events = (await readCommitted(account.events)).map((record) => JSON.parse(record.value!) as Event<{ amount?: number }>);
      const perCommand = new Map<string, Event<{ amount?: number }>[]>();
      for (const event of events) {
        const commandId = event.id.replace(/-\d+$/, '');
        perCommand.set(commandId, [...(perCommand.get(commandId) ?? []), event]);
      }
      const duplicates = [...perCommand].filter(([, list]) => list.length > 1);
      expect(duplicates.map(([id, list]) => `${id} x${list.length}`), 'commands applied more than once').to.deep.equal([]);
      const balances = new Map<string, { balance: number; version: number }>();
      for (const event of events) {
        const current = balances.get(event.aggregateId) ?? { balance: 0, version: 0 };
        expect(event.version, `version of ${event.id} on ${event.aggregateId}`).to.equal(current.version + 1);
        const amount = event.data.amount ?? 0;
        const balance = event.type === 'MoneyDeposited' ? current.balance + amount : event.type === 'MoneyWithdrawn' ? current.balance - amount : current.balance;
        expect(balance, `balance of ${event.aggregateId} after ${event.id}`).to.be.at.least(0);
        balances.set(event.aggregateId, { balance, version: event.version });
      }
      for (const id of opened) {
        expect(perCommand.get(`open-${id}`)?.length, `open-${id}`).to.equal(1);
        expect(perCommand.get(`seed-${id}`)?.length, `seed-${id}`).to.equal(1);
      }
      const stepEvents = new Map<string, { done: Map<number, Event<{ amount?: number }>>; undone: Map<number, Event<{ amount?: number }>[]> }>();
      for (const [commandId, [event]] of perCommand) {
        if (/^(open|seed)-acc-\d+$/.test(commandId)) continue;
        const match = /^(t\d+):(\d):(do|undo:\d+)$/.exec(commandId);
        expect(match, `event ${event!.id}: of no command the test or a saga sent`).to.not.equal(null);
        const [, sagaId, step, kind] = match!;
        const entry = stepEvents.get(sagaId!) ?? { done: new Map(), undone: new Map() };
        stepEvents.set(sagaId!, entry);
        if (kind === 'do') entry.done.set(Number(step), event!);
        else entry.undone.set(Number(step), [...(entry.undone.get(Number(step)) ?? []), event!]);
      }
      let compensationsWithoutStep = 0;
      for (const { id, transfer, designed } of planned) {
        const { done, undone } = stepEvents.get(id) ?? { done: new Map(), undone: new Map() };
        for (const [step, list] of undone) {
          // No compensation without its step, and at most one per step (a compensation retried after a rejection has a new id).
          if (!done.has(step)) compensationsWithoutStep++;
          expect(list.length, `compensations of step ${step} of ${id}`).to.be.at.most(1);
        }
        const shape = (event: Event<{ amount?: number }> | undefined): string | undefined => event && `${event.type} ${event.aggregateId} ${event.data.amount}`;
        if (status.get(id) === 'COMPLETED') {
          expect([shape(done.get(0)), shape(done.get(1))], `${id} COMPLETED: debited and credited once`).to.deep.equal([`MoneyWithdrawn ${transfer.from} ${transfer.amount}`, `MoneyDeposited ${transfer.to} ${transfer.amount}`]);
          expect(undone.size, `${id} COMPLETED: nothing compensated`).to.equal(0);
        } else {
          // COMPENSATED: every applied step taken back once, by its own compensation.
          if (done.has(0)) expect(shape(undone.get(0)?.[0]), `${id}: the refund`).to.equal(`MoneyDeposited ${transfer.from} ${transfer.amount}`);
          if (done.has(1)) expect(shape(undone.get(1)?.[0]), `${id}: the late credit taken back`).to.equal(`MoneyWithdrawn ${transfer.to} ${transfer.amount}`);
        }
        if (designed === 'too-large') expect(done.size, `${id}: a debit beyond every balance applied`).to.equal(0);
        if (designed === 'to-unopened') expect(done.has(1), `${id}: a credit to an account never opened applied`).to.equal(false);
      }
      expect(compensationsWithoutStep, 'compensations applied without their step').to.equal(0);

      // A command's first outcome stays: a command refused is refused once (its rejection remembered like an event)
      // and never applied later; a debit beyond every balance is refused for want of funds.
      const rejections = (await readCommitted(account.rejections)).map((record) => JSON.parse(record.value!) as Event<{ commandId: string; code: string }>);
      const rejectedPerCommand = new Map<string, string[]>();
      for (const { data } of rejections) rejectedPerCommand.set(data.commandId, [...(rejectedPerCommand.get(data.commandId) ?? []), data.code]);
      expect([...rejectedPerCommand].filter(([, codes]) => codes.length > 1).map(([id, codes]) => `${id}: ${codes.join(', ')}`), 'commands rejected more than once').to.deep.equal([]);
      expect([...rejectedPerCommand.keys()].filter((id) => perCommand.has(id)), 'commands both rejected and applied').to.deep.equal([]);
      for (const { id, designed } of planned) if (designed === 'too-large') expect(rejectedPerCommand.get(`${id}:0:do`), `the debit of ${id}`).to.deep.equal(['INSUFFICIENT_FUNDS']);

      // No money made or lost, and the accounts store (its changelog) holds what the events say.
      const total = [...balances.values()].reduce((sum, { balance }) => sum + balance, 0);
      expect(total, 'the total of the balances').to.equal(OPENED * SEED);
      expect([...balances.keys()].sort()).to.deep.equal([...opened].sort());
      const stored = await lastValues<{ state: { balance: number }; version: number }>(`${bankApplication}-accounts-changelog`);
      for (const [id, { balance, version }] of balances) expect({ balance: stored.get(id)?.state.balance, version: stored.get(id)?.version }, `stored account ${id}`).to.deep.equal({ balance, version });

      const seconds = (ms: number): string => (ms / 1000).toFixed(1);
      const percentile = (p: number): number => durations[Math.min(durations.length - 1, Math.floor((durations.length * p) / 100))]!;
      console.log(
        `      ${transport}: ${TRANSFERS} transfers: ${completed} COMPLETED, ${compensated} COMPENSATED (${planned.filter(({ designed }) => designed !== 'ok').length} designed to fail); ` +
          `${timedOut} sagas with a timed-out step (${timedOutBeforeKills} before the first kill), ${lateStepsTakenBack} late credits taken back; ` +
          kills.map((entry) => `${entry.name} killed after ${entry.endedBefore} ended, back in its group ${seconds(entry.backAt! - entry.at)} s later`).join(', ') +
          `; second wave sent ${seconds(lastSent - firstSent)} s after the first (${inFlightAtRestart} of the first still running); ` +
          `all ended ${seconds(allEnded - firstSent)} s after the first start, ${seconds(allEnded - lastBack)} s after the instances were back; ` +
          `saga durations p50 ${seconds(percentile(50))} s, p95 ${seconds(percentile(95))} s, max ${seconds(longest)} s (bound ${seconds(SAGA_BOUND_MS)} s); ` +
          `${events.length} events, ${duplicates.length} commands applied twice, ${compensationsWithoutStep} compensations without their step; total balance ${total} of ${OPENED * SEED}`,
      );
    } catch (error) {
      for (const instance of instances) console.log(`      --- ${instance.name}, last lines:\n${instance.output.slice(-40).join('\n')}`);
      throw error;
    } finally {
      await Promise.allSettled(instances.map((instance) => instance.stop()));
      await requester?.stop().catch(() => undefined);
      await admin.disconnect();
      for (const dir of folders) rmSync(dir, { recursive: true, force: true });
    }
  });
});
