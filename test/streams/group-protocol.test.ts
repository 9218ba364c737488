import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LightService } from '../../index.js';
import { countsPerKey, countTopology, produceCountInputs } from '../fixtures/streams/count-topology.js';
import { brokerApiVersions } from '../support/api-versions.js';
import { streamsServiceConfig } from '../support/config-dir.js';
import { describeGroup } from '../support/group-protocol.js';
import { brokers, createTopics, readToEnd, uniqueName, waitFor } from '../support/kafka.js';

const KEYS = 60;
const PER_KEY = 40;
const PARTITIONS = 6;
/** ConsumerGroupHeartbeat (api key 68): served from Kafka 4.0 on as v1 (Kafka 3.9 lists v0, early access only). */
const CONSUMER_GROUP_HEARTBEAT = 68;

/**
 * LightStreams on the consumer group protocol (KIP-848) on librdkafka: the broker's range assignor hands over
 * partitions one by one as instances come and go (cooperative), and the streams close and open only the tasks whose
 * partitions moved. Exactly once across both moves: every key's counts 1..n in order, each from its own input.
 */
describe('LightStreams on the consumer group protocol (KIP-848, librdkafka) @broker', function () {
  this.timeout(300_000);
  const dirs: string[] = [];
  const stateDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'light-kafka-kip848-'));
    dirs.push(dir);
    return dir;
  };
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  before(async function () {
    if (process.env.SERVICE_TRANSPORT !== 'librdkafka') {
      console.log('      skipped: the consumer group protocol is librdkafka\'s (the run\'s transport is kafkajs; npm run test:librdkafka runs it)');
      this.skip();
    }
    if (((await brokerApiVersions(brokers()[0]!)).get(CONSUMER_GROUP_HEARTBEAT)?.max ?? -1) < 1) {
      console.log(`      skipped: the broker at ${brokers()[0]} does not serve the consumer group protocol: it needs Kafka 4 (the launcher's default)`);
      this.skip();
    }
  });

  it('exactly_once: an instance joins and another leaves mid-stream; tasks move partition by partition, each input counted once', async () => {
    const input = uniqueName('kip848-streams-in');
    const output = uniqueName('kip848-streams-out');
    await createTopics([input, output], PARTITIONS);
    const applicationId = uniqueName('kip848-streams');
    const keys = Array.from({ length: KEYS }, (_, k) => `k${k}`);
    const wave = async (seqs: number[]): Promise<void> => {
      for (const seq of seqs) await produceCountInputs(input, keys, seq);
    };
    const start = async (): Promise<LightService> => {
      const service = await LightService.create({ configDir: streamsServiceConfig('kip848-streams', applicationId, stateDir(), { groupProtocol: 'consumer' }) });
      countTopology(service, input, output);
      await service.start();
      return service;
    };
    const counted = (service: LightService): number => service.streams.store<number>('counts').all().reduce((sum, { value }) => sum + value, 0);
    const half = Array.from({ length: PER_KEY / 2 }, (_, seq) => seq);
    const rest = Array.from({ length: PER_KEY / 2 }, (_, seq) => seq + PER_KEY / 2);

    const first = await start();
    let second: LightService | undefined;
    try {
      await wave(half);
      await waitFor(() => counted(first) === KEYS * half.length, 90_000, 'the first instance counted the first wave');
      second = await start();
      const both = [first, second];
      await waitFor(() => both.every((service) => service.streams.localTasks().some((task) => task.open)) && both.reduce((sum, service) => sum + service.streams.localTasks().length, 0) === PARTITIONS, 90_000, 'the two instances share the tasks');
      expect((await describeGroup(brokers().join(','), applicationId)).protocol, 'the protocol the group runs').to.equal('consumer');
      await wave(rest);
      await first.stop();
      const survivor = second;
      await waitFor(() => survivor.streams.localTasks().length === PARTITIONS && survivor.streams.localTasks().every((task) => task.open), 90_000, 'the second instance runs every task');
      await waitFor(() => counted(survivor) === KEYS * PER_KEY, 90_000, 'every input counted');
      for (const { key, value } of survivor.streams.store<number>('counts').all()) expect(value, key).to.equal(PER_KEY);
    } finally {
      await first.stop();
      await second?.stop();
    }
    const updates = countsPerKey(await readToEnd(output, { timeoutMs: 60_000 }));
    expect(updates.size).to.equal(KEYS);
    const counts = Array.from({ length: PER_KEY }, (_, i) => i + 1);
    for (const [key, list] of updates) {
      expect(list.map(({ count }) => count), key).to.deep.equal(counts);
      expect(list.map(({ correlationId }) => correlationId), key).to.deep.equal(counts.map((count) => `${key}-${count - 1}`));
    }
  });
});
