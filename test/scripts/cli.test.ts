import { expect } from 'chai';
import { DeadLetterHeaderNames as DLQ } from '../../core/headers.js';
import { LightService } from '../../index.js';
import { cli } from '../support/cli.js';
import { configDir, consumerYml, producerYml, serviceYml } from '../support/config-dir.js';
import { createTopics, headerText, produceRaw, readToEnd, uniqueName, waitFor } from '../support/kafka.js';

const SERVICE_FILES = {
  'service.yml': serviceYml('cli-service'),
  'kafka-producer.yml': producerYml(),
  'handler.yml': `handlers: [correlation, kafka/producer@producer]
chains:
  out: [correlation, producer]
topics:
  - topic: orders
    direction: produce
    exec: [out]
  - topic: 'audit\\..*'
    pattern: true
    direction: consume
    exec: [correlation]
defaultHandlers:
  produce: [producer]
  consume: []
`,
};

describe('the light-kafka command', function () {
  this.timeout(60_000);

  it('has --help for each command', async () => {
    for (const args of [['--help'], ['kafka', '--help'], ['chains', '--help'], ['config', 'check', '--help'], ['dlq', '--help'], ['sagas', '--help']]) {
      const { code, out } = await cli(args);
      expect(code, args.join(' ')).to.equal(0);
      expect(out, args.join(' ')).to.match(/light-kafka/);
    }
  });

  it('chains lists what handler.yml resolves to: topics, patterns and defaults, handlers in order, where declared', async () => {
    const dir = configDir({ ...SERVICE_FILES, 'kafka-consumer.yml': consumerYml('cli-group') });
    const { code, out } = await cli(['chains', '--config', dir], { KAFKA_BROKERS: '127.0.0.1:1' });
    expect(code, out).to.equal(0);
    expect(out).to.match(/produce\s+orders\s+correlation -> kafkaProducerTransport\s+\[topics\[0\]\]/);
    expect(out).to.match(/consume\s+\/audit\\\.\.\*\/\s+kafkaConsumerTransport -> correlation\s+\[topics\[1\]\]/);
    expect(out).to.match(/produce\s+\(default\)\s+kafkaProducerTransport\s+\[defaultHandlers\.produce\]/);
    // Under each chain, per handler: its handler.yml entry and the config file it was created from.
    expect(out).to.match(/1\. correlation\s+correlation \(built-in\)\s+\S*dist\/handlers\/correlation\/correlation\.yml\n/);
    expect(out).to.match(/2\. kafkaProducerTransport\s+kafka\/producer@producer \(built-in\)\s+\S*kafka-producer\.yml\n/);
    expect(out).to.match(/1\. kafkaConsumerTransport\s+kafka\/consumer \(built-in\)\s+\S*kafka-consumer\.yml\n/);
  });

  it('config check: exit 0 on a valid folder, 1 with the file and key of the first error', async () => {
    const valid = configDir({ ...SERVICE_FILES, 'kafka-consumer.yml': consumerYml('cli-group') });
    expect((await cli(['config', 'check', '--config', valid], { KAFKA_BROKERS: '127.0.0.1:1' })).code).to.equal(0);
    const invalid = configDir({ ...SERVICE_FILES, 'kafka-consumer.yml': `${consumerYml('cli-group')}maxRetries: -1\n` });
    const { code, out } = await cli(['config', 'check', '--config', invalid], { KAFKA_BROKERS: '127.0.0.1:1' });
    expect(code).to.equal(1);
    expect(out).to.include('kafka-consumer.yml').and.include('maxRetries');
  });
});

describe('light-kafka dlq list and replay @broker', function () {
  this.timeout(120_000);

  it('lists the dead letters of a topic (by code too) and replays them to their original topic with their key, value and headers', async () => {
    const topic = uniqueName('cli-dlq');
    await createTopics([topic, `${topic}.dlq`]);
    const dir = configDir({ 'service.yml': serviceYml('cli-dlq'), 'kafka-consumer.yml': consumerYml(uniqueName('cli-dlq'), '', 0), 'kafka-producer.yml': producerYml() });
    await produceRaw(topic, [
      { key: 'bad-1', value: '{not json', headers: { 'X-Correlation-Id': 'c-bad-1' } },
      { key: 'good', value: JSON.stringify({ ok: true }) },
      { key: 'bad-2', value: '{still not json', headers: { 'X-Correlation-Id': 'c-bad-2' } },
    ]);
    const service = await LightService.create({ configDir: dir });
    let dead = 0;
    service.consumer.on('deadLettered', () => void (dead += 1));
    service.consumer.handle(topic, () => undefined);
    try {
      await service.start();
      await waitFor(() => dead === 2, 60_000, 'two dead letters');
    } finally {
      await service.stop();
    }
    const list = await cli(['dlq', 'list', topic, '--config', dir]);
    expect(list.code, list.out).to.equal(0);
    expect(list.out).to.match(/ERR11004 {2}from .*-0@0 {2}key bad-1/).and.match(/ERR11004 {2}from .*-0@2 {2}key bad-2/).and.include('2 dead letter(s)');
    expect((await cli(['dlq', 'list', topic, '--code', 'ERR99999', '--config', dir])).out).to.include('0 dead letter(s)');

    const dry = await cli(['dlq', 'replay', topic, '--dry-run', '--config', dir]);
    expect(dry.out).to.include('would write').and.include('dry run: would replay 2 to');
    expect(await readToEnd(topic)).to.have.length(3);

    const replay = await cli(['dlq', 'replay', topic, '--config', dir]);
    expect(replay.code, replay.out).to.equal(0);
    expect(replay.out).to.include(`replayed 2 to ${topic}`);
    const records = await readToEnd(topic);
    const replayed = records.filter((record) => headerText(record.headers, DLQ.replayedFrom) !== undefined);
    expect(replayed.map((record) => [record.key, record.value, headerText(record.headers, 'X-Correlation-Id')])).to.deep.equal([
      ['bad-1', '{not json', 'c-bad-1'],
      ['bad-2', '{still not json', 'c-bad-2'],
    ]);
    for (const record of replayed) expect(headerText(record.headers, DLQ.errorCode)).to.equal(undefined);
  });

  it('produce sends JSON lines through the produce chain; consume reads them back through the consume chain', async () => {
    const topic = uniqueName('cli-io');
    await createTopics([topic]);
    const dir = configDir({
      'service.yml': serviceYml('cli-io'),
      'kafka-consumer.yml': consumerYml(uniqueName('cli-io')),
      'kafka-producer.yml': producerYml(),
      'handler.yml': 'handlers: [correlation, kafka/producer@producer]\ndefaultHandlers:\n  produce: [correlation, producer]\n  consume: [correlation]\n',
    });
    const produced = await cli(['produce', topic, '--config', dir], {}, '{"key":"a","value":{"n":1},"headers":{"X-Correlation-Id":"c-cli"}}\n{"n":2}\n');
    expect(produced.code, produced.out).to.equal(0);
    expect(produced.out.trim().split('\n')).to.deep.equal([`${topic}-0@0`, `${topic}-0@1`]);
    const consumed = await cli(['consume', topic, '--config', dir, '--count', '2']);
    expect(consumed.code, consumed.out).to.equal(0);
    const lines = consumed.out.trim().split('\n').map((line) => JSON.parse(line) as { key: string | null; value: unknown; headers: Record<string, string>; outcome: string });
    expect(lines.map((line) => [line.key, line.value, line.outcome])).to.deep.equal([
      ['a', { n: 1 }, 'processed'],
      [null, { n: 2 }, 'processed'],
    ]);
    expect(lines[0]!.headers).to.include({ 'X-Correlation-Id': 'c-cli', caller_id: 'cli-io' });
  });
});

describe('light-kafka sagas @broker', function () {
  this.timeout(120_000);

  it('lists the sagas in progress from the changelog, stuck first, exits 3 when one is stuck, and prints one saga with --id', async () => {
    const applicationId = uniqueName('cli-sagas');
    const dir = configDir({
      ...SERVICE_FILES,
      'kafka-consumer.yml': consumerYml('cli-group'),
      'kafka-streams.yml': `properties:\n  bootstrap.servers: \${kafka.brokers}\n  application.id: ${applicationId}\n`,
    });
    const saga = (id: string, status: string, extra: Record<string, unknown> = {}) => ({
      id,
      saga: 'payments',
      status,
      data: {},
      step: 0,
      awaiting: [],
      toCompensate: [],
      compensationAttempt: 0,
      stuck: false,
      history: [{ at: '2026-01-01T00:00:00.000Z', step: '-', event: 'started' }],
      startedAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
      metadata: {},
      context: {},
      startId: `${id}-start`,
      startType: 'StartPayment',
      ...extra,
    });
    const changelog = `${applicationId}-payments-changelog`;
    await produceRaw(changelog, [
      { key: 'p-running', value: JSON.stringify(saga('p-running', 'RUNNING', { awaiting: [{ commandId: 'p-running:0:do', step: 0, kind: 'do', sends: 1, deadline: 0 }] })) },
      { key: 'p-done', value: JSON.stringify(saga('p-done', 'COMPLETED')) },
      { key: 'p-stuck', value: JSON.stringify(saga('p-stuck', 'COMPENSATING', { stuck: true, compensationAttempt: 6, failure: { step: 'charge', code: 'TIMEOUT', reason: 'no reply within 1000 ms' } })) },
      { key: 'p-gone', value: JSON.stringify(saga('p-gone', 'RUNNING')) },
      // A deleted key (compaction's tombstone) is not listed.
      { key: 'p-gone', value: null },
    ]);
    const listed = await cli(['sagas', 'payments', '--config', dir]);
    expect(listed.code, listed.out).to.equal(3);
    const lines = listed.out.trim().split('\n');
    expect(lines[0]).to.match(/^p-stuck {2}COMPENSATING STUCK {2}age \d+ s {2}failed at charge: TIMEOUT no reply within 1000 ms$/);
    expect(lines[1]).to.match(/^p-running {2}RUNNING {2}age \d+ s {2}waiting for step 0 \(p-running:0:do, sent 1x\)$/);
    expect(lines[2]).to.equal('payments: 1 running, 1 compensating (1 stuck), 1 completed, 0 compensated');
    expect(lines).to.have.length(3);
    const all = await cli(['sagas', 'payments', '--all', '--config', dir]);
    expect(all.out).to.contain('p-done  COMPLETED');
    const one = await cli(['sagas', 'payments', '--id', 'p-running', '--config', dir]);
    expect(one.code).to.equal(0);
    expect(JSON.parse(one.out)).to.deep.include({ id: 'p-running', status: 'RUNNING' });
    expect((await cli(['sagas', 'payments', '--id', 'nope', '--config', dir])).code).to.equal(1);
  });
});
