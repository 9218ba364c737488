import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DriverBatch } from '../../core/kafka/driver.js';
import type { LibrdkafkaModule, NativeMessage, NativePartition } from '../../core/kafka/librdkafka-api.js';
import { LibrdkafkaNativeConsumer, nativeConsumerConfig } from '../../core/kafka/librdkafka-native-consumer.js';
import { toConsumerSettings } from '../../core/kafka/properties.js';
import { createLogger } from '../../core/logger.js';

const ASSIGN = -175;
const REVOKE = -174;

/** The native KafkaConsumer's calls as the driver makes them, with records handed out from `fetches`. */
class FakeNative {
  static last: FakeNative;
  readonly calls: string[] = [];
  readonly fetches: (NativeMessage[] | Error)[] = [];
  constructor(readonly config: Record<string, unknown>) {
    FakeNative.last = this;
  }
  rebalance(code: number, partitions: NativePartition[]): void {
    (this.config.rebalance_cb as (error: { code: number }, assignment: NativePartition[]) => void)({ code }, partitions);
  }
  connect(_options: unknown, callback: (error: null) => void): void {
    callback(null);
  }
  disconnect(callback: (error: null) => void): void {
    this.calls.push('disconnect');
    callback(null);
  }
  isConnected(): boolean {
    return true;
  }
  getMetadata(_options: unknown, callback: (error: null, metadata: unknown) => void): void {
    callback(null, { brokers: [{}], topics: [{ name: 't', partitions: [{}] }] });
  }
  subscribe(): void {}
  setDefaultConsumeTimeout(): void {}
  setDefaultIsTimeoutOnlyForFirstMessage(): void {}
  consume(_count: number, callback: (error: Error | null, messages: NativeMessage[]) => void): void {
    const next = this.fetches.shift();
    this.calls.push('consume');
    if (next instanceof Error) setTimeout(() => callback(next, []), 0);
    else setTimeout(() => callback(null, next ?? []), next ? 0 : 5);
  }
  offsetsStore(partitions: NativePartition[]): void {
    for (const { partition, offset } of partitions) this.calls.push(`store ${partition}@${offset}`);
  }
  commitCb(partitions: NativePartition[], callback: (error: null) => void): void {
    this.calls.push(`commit ${partitions.map(({ partition, offset }) => `${partition}@${offset}`).join(',')}`);
    setTimeout(() => callback(null), 5);
  }
  seek({ partition, offset }: NativePartition, _timeout: number, callback: (error: null) => void): void {
    this.calls.push(`seek ${partition}@${offset}`);
    callback(null);
  }
  pause(partitions: NativePartition[]): void {
    this.calls.push(`pause ${partitions.map(({ partition }) => partition).join(',')}`);
  }
  incrementalAssign(partitions: NativePartition[]): void {
    this.calls.push(`assign ${partitions.map(({ partition }) => partition).join(',')}`);
  }
  incrementalUnassign(partitions: NativePartition[]): void {
    this.calls.push(`unassign ${partitions.map(({ partition }) => partition).join(',')}`);
  }
  assignmentLost(): boolean {
    return false;
  }
  rebalanceProtocol(): string {
    return 'COOPERATIVE';
  }
  getWatermarkOffsets(): { highOffset: number; lowOffset: number } {
    return { highOffset: 100, lowOffset: 0 };
  }
  on(): void {}
}

const module = { KafkaConsumer: FakeNative, CODES: { ERRORS: { ERR__ASSIGN_PARTITIONS: ASSIGN, ERR__REVOKE_PARTITIONS: REVOKE } } } as unknown as LibrdkafkaModule;
const settings = toConsumerSettings({ 'bootstrap.servers': 'a:1', 'group.id': 'g' }, 'kafka-consumer.yml', 'librdkafka');
const records = (partition: number, from: number, count: number): NativeMessage[] =>
  Array.from({ length: count }, (_, i) => ({ topic: 't', partition, offset: from + i, value: Buffer.from('v'), key: 'k', timestamp: 1, headers: [{ h: Buffer.from('1') }, { h: Buffer.from('2') }] }));

async function until(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited > 2000) throw new Error('condition not met in 2 s');
    await sleep(5);
  }
}

describe('librdkafka native consumer (LightConsumer on the native API, no broker)', () => {
  let consumer: LibrdkafkaNativeConsumer;
  let fake: FakeNative;
  beforeEach(async () => {
    consumer = new LibrdkafkaNativeConsumer(module, settings, createLogger({ level: 'silent' } as never));
    fake = FakeNative.last;
    await consumer.connect();
    await consumer.subscribe(['t']);
  });

  it('cooperative-sticky unless an assignor is named; none under group.protocol consumer; offsets stored by the driver', () => {
    expect(fake.config).to.include({ 'partition.assignment.strategy': 'cooperative-sticky', 'enable.auto.offset.store': false, 'enable.auto.commit': true });
    expect(fake.config).to.not.have.property('js.consumer.max.batch.size');
    expect(nativeConsumerConfig({ 'partition.assignment.strategy': 'range' })['partition.assignment.strategy']).to.equal('range');
    expect(nativeConsumerConfig({ 'group.protocol': 'consumer' })).to.not.have.property('partition.assignment.strategy');
  });

  it('hands a consume call\'s records over per partition, stores offset + 1 of the last processed, seeks a handed-back partition back', async () => {
    const batches: DriverBatch[] = [];
    fake.rebalance(ASSIGN, [{ topic: 't', partition: 0 }, { topic: 't', partition: 1 }]);
    fake.fetches.push([...records(0, 10, 3), ...records(1, 50, 2)]);
    await consumer.run({
      partitionsConsumedConcurrently: 1,
      eachBatch: async (batch) => {
        batches.push(batch);
        // Partition 0 processes one record and stops there; partition 1 processes all.
        for (const message of batch.partition === 0 ? batch.messages.slice(0, 1) : batch.messages) batch.resolveOffset(message.offset);
      },
    });
    await until(() => fake.calls.includes('seek 0@11'));
    expect(batches.map((batch) => [batch.partition, batch.messages.map((message) => message.offset)])).to.deep.equal([[0, ['10', '11', '12']], [1, ['50', '51']]]);
    expect(batches[0]!.messages[0]!.headers).to.deep.equal({ h: [Buffer.from('1'), Buffer.from('2')] });
    expect(batches[0]!.messages[0]!.key).to.deep.equal(Buffer.from('k'));
    expect(fake.calls).to.include.members(['store 0@11', 'store 1@52']);
    expect(fake.calls).to.not.include('seek 1@52');
    await consumer.disconnect();
    expect(fake.calls.slice(-2)).to.deep.equal(['commit 0@11,1@52', 'disconnect']);
  });

  it('a revoke waits for the batch in hand (which is asked to hand back), commits what it processed, then unassigns', async () => {
    fake.rebalance(ASSIGN, [{ topic: 't', partition: 0 }]);
    fake.fetches.push(records(0, 0, 100));
    let handedBack = false;
    await consumer.run({
      partitionsConsumedConcurrently: 1,
      eachBatch: async (batch) => {
        for (const message of batch.messages) {
          if (batch.handBack()) {
            handedBack = true;
            break;
          }
          batch.resolveOffset(message.offset);
          if (message.offset === '4') fake.rebalance(REVOKE, [{ topic: 't', partition: 0 }]);
          await sleep(2);
        }
      },
    });
    await until(() => fake.calls.some((call) => call.startsWith('unassign')));
    expect(handedBack).to.equal(true);
    const commit = fake.calls.findIndex((call) => call.startsWith('commit'));
    expect(fake.calls[commit]).to.equal('commit 0@5');
    expect(fake.calls.indexOf('unassign 0')).to.be.greaterThan(commit);
    // The partition is gone: no seek back (its next owner starts at the committed offset).
    expect(fake.calls.filter((call) => call.startsWith('seek'))).to.deep.equal([]);
    await consumer.disconnect();
  });

  it('records the next consume call read before a partition was sought back are not handed over (no gap after a hand-back)', async () => {
    fake.rebalance(ASSIGN, [{ topic: 't', partition: 0 }]);
    // The second call is in flight while the first one's records are processed.
    fake.fetches.push(records(0, 0, 5), records(0, 5, 5));
    const handed: string[][] = [];
    await consumer.run({
      partitionsConsumedConcurrently: 1,
      eachBatch: async (batch) => {
        handed.push(batch.messages.map((message) => message.offset));
        for (const message of batch.messages.slice(0, 2)) batch.resolveOffset(message.offset);
      },
    });
    await until(() => fake.fetches.length === 0 && fake.calls.includes('seek 0@2'));
    await sleep(30);
    expect(handed).to.deep.equal([['0', '1', '2', '3', '4']]);
    await consumer.disconnect();
  });

  it('a consume error is retried after a pause (no spinning); a fatal one reports a crash without restart', async () => {
    fake.rebalance(ASSIGN, [{ topic: 't', partition: 0 }]);
    fake.fetches.push(new Error('transient'), new Error('transient'), records(0, 0, 1), Object.assign(new Error('fatal'), { isFatal: true }));
    const crashes: { restart: boolean }[] = [];
    consumer.on('crash', (payload) => crashes.push(payload));
    const handed: string[] = [];
    const started = Date.now();
    await consumer.run({ partitionsConsumedConcurrently: 1, eachBatch: async (batch) => void handed.push(...batch.messages.map((message) => message.offset)) });
    await until(() => crashes.length === 1);
    expect(Date.now() - started).to.be.at.least(2 * 200);
    expect(handed).to.deep.equal(['0']);
    expect(crashes[0]!.restart).to.equal(false);
    await consumer.disconnect();
  });

  it('a paused partition gets no further records and its unprocessed ones come again from where it stopped', async () => {
    fake.rebalance(ASSIGN, [{ topic: 't', partition: 0 }]);
    fake.fetches.push(records(0, 0, 5), records(0, 5, 5));
    const seen: string[] = [];
    await consumer.run({
      partitionsConsumedConcurrently: 1,
      eachBatch: async (batch) => {
        for (const message of batch.messages) {
          seen.push(message.offset);
          if (message.offset === '2') return batch.pause();
          batch.resolveOffset(message.offset);
        }
      },
    });
    await until(() => fake.fetches.length === 0 && fake.calls.includes('seek 0@2'));
    await sleep(20);
    expect(seen).to.deep.equal(['0', '1', '2']);
    expect(fake.calls).to.include.members(['pause 0', 'store 0@2']);
    await consumer.disconnect();
  });
});
