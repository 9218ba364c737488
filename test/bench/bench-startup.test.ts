import { expect } from 'chai';
import { isLibrdkafkaRow, librdkafkaClient } from '../../bench/lib/rdkafka-raw.js';
import { chooseTasks } from '../../bench/run.js';

/** Labels as bench/run.ts names its rows (a sample of each kind). */
const LABELS = [
  'produce 100 B, batches of 500: raw kafkajs',
  'produce 100 B, batches of 500: raw librdkafka',
  'produce 100 B, batches of 500: light, empty chain',
  'produce 100 B, batches of 500: librdkafka, empty chain',
  'produce 100 B, batches of 500: librdkafka, full chain (unsampled)',
  'fill bench-x-consume-100',
  'consume 100 B: light, full chain (unsampled)',
  'consume 100 B: hand-written (same concerns, raw kafkajs, unsampled)',
  'consume 100 B: librdkafka, empty chain',
  'transactions of 1000 records (100 B): raw librdkafka',
  'transactions of 1000 records (100 B): light, empty chain',
  'in-process full consume chain',
  'latency: librdkafka, empty chain',
];
const tasks = LABELS.map((label) => ({ label }));

describe('npm run bench: start-up without the optional librdkafka client (a README install)', () => {
  it('a client that cannot be loaded is a one-line reason, not a crash (was: Cannot find module from bench/lib/rdkafka-raw.ts)', () => {
    const client = librdkafkaClient('@confluentinc/kafka-javascript-not-installed');
    expect(client.module).to.equal(undefined);
    expect(client.skipped).to.match(/^librdkafka rows skipped: @confluentinc\/kafka-javascript cannot be loaded \(Cannot find module '@confluentinc\/kafka-javascript-not-installed'/);
    expect(client.skipped).to.contain('CKJS_LINKING=dynamic npm install @confluentinc/kafka-javascript');
    expect(client.skipped).to.not.contain('\n');
  });

  it('importing the bench starts nothing, and without the client every librdkafka row is left out and the others run', () => {
    const skipped = librdkafkaClient('@confluentinc/kafka-javascript-not-installed');
    const quick = chooseTasks(tasks, { quick: true, librdkafka: skipped }).map(({ label }) => label);
    expect(quick).to.deep.equal([
      'produce 100 B, batches of 500: raw kafkajs',
      'produce 100 B, batches of 500: light, empty chain',
      'fill bench-x-consume-100',
      'consume 100 B: light, full chain (unsampled)',
      'transactions of 1000 records (100 B): light, empty chain',
      'in-process full consume chain',
    ]);
    const all = chooseTasks(tasks, { quick: false, librdkafka: skipped }).map(({ label }) => label);
    expect(all.filter(isLibrdkafkaRow)).to.deep.equal([]);
    expect(all).to.have.length(LABELS.filter((label) => !label.includes('librdkafka')).length);
    const only = chooseTasks(tasks, { only: /^produce/, quick: false, librdkafka: skipped }).map(({ label }) => label);
    expect(only).to.deep.equal(['produce 100 B, batches of 500: raw kafkajs', 'produce 100 B, batches of 500: light, empty chain']);
  });

  it('with the client loaded, the librdkafka rows are chosen as before', () => {
    const loaded = { module: {} as never };
    expect(chooseTasks(tasks, { quick: false, librdkafka: loaded })).to.have.length(LABELS.length);
    expect(chooseTasks(tasks, { quick: true, librdkafka: loaded }).map(({ label }) => label)).to.include('produce 100 B, batches of 500: librdkafka, empty chain');
  });
});
