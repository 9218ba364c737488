import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { LightService } from '../../index.js';
import { configDir, consumerYml, producerYml, serviceYml } from '../support/config-dir.js';
import { createTopics, produceRaw, uniqueName, waitFor } from '../support/kafka.js';

function keyOrderedConfig(groupId: string): string {
  return configDir({
    'service.yml': serviceYml('key-ordered', 'stopTimeoutMs: 10000\n'),
    'kafka-consumer.yml': consumerYml(groupId, 'ordering: key\nmaxConcurrency: 16\n'),
    'kafka-producer.yml': producerYml(),
  });
}

async function produceKeyed(topic: string, keys: number, perKey: number): Promise<void> {
  const records = [];
  for (let seq = 0; seq < perKey; seq++) for (let k = 0; k < keys; k++) records.push({ key: `k${k}`, value: JSON.stringify({ key: `k${k}`, seq }) });
  for (let i = 0; i < records.length; i += 500) await produceRaw(topic, records.slice(i, i + 500));
}

describe('key-ordered concurrency within a partition @broker', function () {
  this.timeout(180_000);

  it('keeps each key in order while records of different keys of one partition run concurrently', async () => {
    const topic = uniqueName('keyed');
    await createTopics([topic], 1);
    await produceKeyed(topic, 50, 20);
    const service = await LightService.create({ configDir: keyOrderedConfig(uniqueName('keyed')) });
    const seen = new Map<string, number[]>();
    let inFlight = 0;
    let maxInFlight = 0;
    let total = 0;
    service.consumer.handle(topic, async (exchange) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await sleep(1 + (Number(exchange.offset) % 4));
      const { key, seq } = exchange.value as { key: string; seq: number };
      seen.set(key, [...(seen.get(key) ?? []), seq]);
      inFlight -= 1;
      total += 1;
    });
    try {
      await service.start();
      await waitFor(() => total >= 1000, 60_000, '1,000 records processed');
    } finally {
      await service.stop();
    }
    expect(seen.size).to.equal(50);
    for (const [key, seqs] of seen) expect(seqs, key).to.deep.equal(Array.from({ length: 20 }, (_, i) => i));
    expect(maxInFlight, 'records of one partition in flight at once').to.be.greaterThan(8).and.at.most(16);
  });

  it('loses no record when the consumer is killed with SIGKILL mid-way under key ordering', async () => {
    const topic = uniqueName('keyed-kill');
    const groupId = uniqueName('keyed-kill');
    await createTopics([topic], 1);
    await produceKeyed(topic, 100, 20);
    const dir = keyOrderedConfig(groupId);
    const outFile = join(tmpdir(), `${uniqueName('keyed-kill')}.log`);
    const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist', 'test', 'fixtures', 'key-ordered', 'consumer-process.js'), dir, topic, outFile], {
      env: { ...process.env, LOG_LEVEL: 'error' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const linesOf = (): string[] => (existsSync(outFile) ? readFileSync(outFile, 'utf8').split('\n').filter(Boolean) : []);
    try {
      await waitFor(() => linesOf().length >= 600, 60_000, 'the child processed 600 records');
    } finally {
      child.kill('SIGKILL');
    }
    await new Promise((resolve) => child.once('exit', resolve));
    const beforeKill = new Set(linesOf());
    expect(beforeKill.size).to.be.below(2000);

    // The same group again: it resumes from the committed offset, which never passed a record still in flight.
    const service = await LightService.create({ configDir: dir });
    const afterRestart = new Set<string>();
    service.consumer.handle(topic, (exchange) => void afterRestart.add(exchange.offset!));
    try {
      await service.start();
      await waitFor(() => Array.from({ length: 2000 }, (_, i) => String(i)).every((offset) => beforeKill.has(offset) || afterRestart.has(offset)), 60_000, 'every record processed');
    } finally {
      await service.stop();
    }
    expect(afterRestart.size, 'records processed again after the kill (at-least-once)').to.be.at.least(2000 - beforeKill.size);
  });
});
