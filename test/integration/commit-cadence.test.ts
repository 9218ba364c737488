import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { LightService } from '../../index.js';
import { configDir, consumerYml, producerYml, serviceYml } from '../support/config-dir.js';
import { createTopics, produceRaw, uniqueName, waitFor } from '../support/kafka.js';

const INTERVAL_MS = 300;
const RECORDS = 6000;

describe('consumer commit cadence @broker', function () {
  this.timeout(180_000);

  it('commits processed offsets every auto.commit.interval.ms inside one long batch: a SIGKILL re-delivers at most one interval of records', async () => {
    const topic = uniqueName('cadence');
    await createTopics([topic], 1);
    for (let i = 0; i < RECORDS; i += 1000) await produceRaw(topic, Array.from({ length: 1000 }, (_, n) => ({ key: `k${(i + n) % 50}`, value: JSON.stringify({ n: i + n }) })));
    // One fetch hands over thousands of these records: without commits inside the batch, a kill re-delivers the whole batch.
    const dir = configDir({
      'service.yml': serviceYml('cadence', 'stopTimeoutMs: 10000\n'),
      'kafka-consumer.yml': consumerYml(uniqueName('cadence'), '').replace('properties:\n', `properties:\n  auto.commit.interval.ms: ${INTERVAL_MS}\n  max.partition.fetch.bytes: 10485760\n`),
      'kafka-producer.yml': producerYml(),
    });
    const outFile = join(tmpdir(), `${uniqueName('cadence')}.log`);
    const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist', 'test', 'fixtures', 'commit-cadence', 'consumer-process.js'), dir, topic, outFile], {
      env: { ...process.env, LOG_LEVEL: 'error' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = (): string[] => (existsSync(outFile) ? readFileSync(outFile, 'utf8').split('\n').filter(Boolean) : []);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await waitFor(() => lines().length >= 2500, 90_000, 'the child processed 2,500 records');
    } finally {
      child.kill('SIGKILL');
    }
    await exited;
    const before = lines().map((line) => line.split(' ').map(Number) as [number, number]);
    // The child's own rate, the most records it processed in any second of its last three (a second holding a pause —
    // librdkafka's consumer re-fetches a batch it handed back — would understate it): what one interval (plus the
    // 100 ms between commit checks) processes.
    const lastTime = before[before.length - 1]![1];
    const times = before.map(([, time]) => time).filter((time) => time > lastTime - 3000);
    const lastSecond = Math.max(...times.map((start) => times.filter((time) => time >= start && time < start + 1000).length));
    const bound = Math.ceil((lastSecond * (INTERVAL_MS + 100)) / 1000) + 5;

    const service = await LightService.create({ configDir: dir });
    const again = new Set<number>();
    let maxSeen = -1;
    service.consumer.handle(topic, (exchange) => {
      again.add(Number(exchange.offset));
      maxSeen = Math.max(maxSeen, Number(exchange.offset));
    });
    try {
      await service.start();
      await waitFor(() => maxSeen >= RECORDS - 1, 60_000, 'every record processed after the restart');
    } finally {
      await service.stop();
    }
    const processedBefore = new Set(before.map(([offset]) => offset));
    const redelivered = [...processedBefore].filter((offset) => again.has(offset)).length;
    for (let offset = 0; offset < RECORDS; offset++) expect(processedBefore.has(offset) || again.has(offset), `offset ${offset} processed`).to.equal(true);
    expect(redelivered, `re-delivered records (bound: ${bound} = one interval at ${lastSecond}/s + the check granularity)`).to.be.at.most(bound);
  });
});
