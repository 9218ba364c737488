// The global tables' runtime against a stand-in for the streams clients (the broker test runs them on Kafka): restore
// to the topic's end before start() returns, checkpoints per partition, tombstones, records it cannot decode, and the
// errors a start fails with.
import { expect } from 'chai';
import { createLogger } from '../../core/logger.js';
import { LightError } from '../../core/errors/light-error.js';
import type { DriverMessage } from '../../core/kafka/driver.js';
import { defaultGlobalDecoder, GlobalTables } from '../../core/streams/global-tables.js';
import { MemoryTaskStorage } from '../../core/streams/stores.js';
import type { StreamsClients } from '../../core/kafka/streams-clients.js';

const silent = createLogger({ level: 'error' } as never);

type Log = Map<number, { key: string | null; value: string | null }[]>;

function message(offset: number, key: string | null, value: unknown): DriverMessage {
  return { key: key === null ? null : Buffer.from(key), value: value === null ? null : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)), timestamp: '0', offset: String(offset) };
}

/** Streams clients reading an in-memory topic: each partition's records, delivered a batch at a time (2 records). */
function clientsOf(log: Log, options: { partitions?: number; stall?: boolean } = {}): StreamsClients & { append(partition: number, key: string, value: unknown): void; reads: Map<number, string>[] } {
  const readers: ((partition: number) => void)[] = [];
  const reads: Map<number, string>[] = [];
  const clients = {
    reads,
    partitionCount: async () => options.partitions ?? log.size,
    endOffsets: async () => new Map([...log].map(([partition, records]) => [partition, String(records.length)])),
    readTopic: async (_topic: string, from: ReadonlyMap<number, string>, onBatch: (partition: number, messages: DriverMessage[], next: string) => void) => {
      reads.push(new Map(from));
      const positions = new Map([...from].map(([partition, offset]) => [partition, Number(offset)]));
      let stopped = false;
      const pump = (partition: number): void => {
        if (stopped || options.stall) return;
        const records = log.get(partition) ?? [];
        const at = positions.get(partition) ?? 0;
        if (at >= records.length) return;
        const batch = records.slice(at, at + 2).map((record, i) => message(at + i, record.key, record.value));
        positions.set(partition, at + batch.length);
        onBatch(partition, batch, String(at + batch.length));
        setImmediate(() => pump(partition));
      };
      readers.push(pump);
      for (const partition of log.keys()) setImmediate(() => pump(partition));
      return { stop: async () => void (stopped = true) };
    },
    append(partition: number, key: string, value: unknown) {
      log.get(partition)!.push({ key, value: value === null ? null : JSON.stringify(value) });
      for (const pump of readers) pump(partition);
    },
  };
  return clients as unknown as StreamsClients & { append(partition: number, key: string, value: unknown): void; reads: Map<number, string>[] };
}

const definitions = [{ topic: 'customers', store: 'customers' }];

describe('global tables', () => {
  it('restores every partition to its end before start() returns, then applies what comes; a null value deletes', async () => {
    const log: Log = new Map([
      [0, [{ key: 'a', value: '{"n":1}' }, { key: 'b', value: '{"n":2}' }, { key: 'a', value: '{"n":3}' }]],
      [1, [{ key: 'c', value: '{"n":4}' }, { key: 'c', value: null }, { key: 'd', value: '"text"' }]],
    ]);
    const storage = new MemoryTaskStorage();
    const clients = clientsOf(log);
    const tables = new GlobalTables(definitions, { storage, decode: defaultGlobalDecoder, logger: silent, restoreTimeoutMs: 1000 });
    await tables.start(clients);
    expect(tables.range('customers', {})).to.deep.equal([
      { key: 'a', value: { n: 3 } },
      { key: 'b', value: { n: 2 } },
      { key: 'd', value: 'text' },
    ]);
    expect(JSON.parse(storage.checkpoint('customers')!)).to.deep.equal({ 0: '3', 1: '3' });
    clients.append(0, 'b', null);
    clients.append(1, 'e', { n: 5 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(tables.get('customers', 'b')).to.equal(undefined);
    expect(tables.get('customers', 'e')).to.deep.equal({ n: 5 });
    const store = tables.store('customers')!;
    expect(store.get('a')).to.deep.equal({ n: 3 });
    expect(() => store.put('x', 1)).to.throw(/read-only/);
    expect(tables.partitionCount('customers')).to.equal(2);
    await tables.stop();
  });

  it('goes on from its checkpoint; a checkpoint past the topic end (a recreated topic) restores from the start', async () => {
    const log: Log = new Map([[0, [{ key: 'a', value: '1' }, { key: 'b', value: '2' }]]]);
    const storage = new MemoryTaskStorage();
    storage.apply('customers', new Map([['stale', 0]]), JSON.stringify({ 0: '1' }));
    const resumed = clientsOf(log);
    const first = new GlobalTables(definitions, { storage, decode: defaultGlobalDecoder, logger: silent, restoreTimeoutMs: 1000 });
    await first.start(resumed);
    expect(resumed.reads).to.deep.equal([new Map([[0, '1']])]);
    expect(first.range('customers', {}).map(({ key }) => key)).to.deep.equal(['b', 'stale']);

    const recreated = new MemoryTaskStorage();
    recreated.apply('customers', new Map([['stale', 0]]), JSON.stringify({ 0: '9' }));
    const fresh = clientsOf(log);
    const second = new GlobalTables(definitions, { storage: recreated, decode: defaultGlobalDecoder, logger: silent, restoreTimeoutMs: 1000 });
    await second.start(fresh);
    expect(fresh.reads).to.deep.equal([new Map([[0, '0']])]);
    expect(second.range('customers', {}).map(({ key }) => key)).to.deep.equal(['a', 'b']);
    await Promise.all([first.stop(), second.stop()]);
  });

  it('skips a record it cannot decode (and one without a key), keeping the rest', async () => {
    const log: Log = new Map([[0, [{ key: 'a', value: '1' }, { key: 'bad', value: 'x' }, { key: null, value: '3' }, { key: 'c', value: '4' }]]]);
    const decode = (topic: string, record: DriverMessage) => {
      if (record.key?.toString() === 'bad') throw new LightError('ERR11004', { field: 'value', topic, reason: 'not JSON' });
      return defaultGlobalDecoder(topic, record);
    };
    const tables = new GlobalTables(definitions, { storage: new MemoryTaskStorage(), decode, logger: silent, restoreTimeoutMs: 1000 });
    await tables.start(clientsOf(log));
    expect(tables.range('customers', {}).map(({ key }) => key)).to.deep.equal(['a', 'c']);
    await tables.stop();
  });

  it('fails the start with ERR12012: a topic without partitions, a topic whose partitions cannot be read, a restore without progress', async () => {
    const attempt = async (clients: StreamsClients): Promise<LightError> => {
      const tables = new GlobalTables(definitions, { storage: new MemoryTaskStorage(), decode: defaultGlobalDecoder, logger: silent, restoreTimeoutMs: 100 });
      try {
        await tables.start(clients);
      } catch (error) {
        return error as LightError;
      }
      throw new Error('the start should have failed');
    };
    const none = await attempt(clientsOf(new Map(), { partitions: 0 }));
    expect(none.code).to.equal('ERR12012');
    expect(none.message).to.match(/global table customers: its topic customers does not exist/);
    const unreadable = clientsOf(new Map());
    unreadable.partitionCount = async () => {
      throw Object.assign(new Error('This server does not host this topic-partition'), { retriable: true });
    };
    const failed = await attempt(unreadable);
    expect(failed.code).to.equal('ERR12012');
    expect(failed.message).to.match(/cannot be read \(does the topic exist\?\)/);
    // Still a transient error underneath: the start retries it (metadata of a new topic not on every broker yet).
    expect((failed.cause as { retriable?: boolean }).retriable).to.equal(true);
    const stalled = await attempt(clientsOf(new Map([[0, [{ key: 'a', value: '1' }]]]), { stall: true }));
    expect(stalled.code).to.equal('ERR12012');
    expect(stalled.message).to.match(/cannot be restored from customers: no record for 100 ms \(partition 0 at 0 of 1\)/);
  });
});
