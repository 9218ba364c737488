import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LightService } from '../../index.js';
import { countTopology, produceCountInputs } from '../fixtures/streams/count-topology.js';
import { streamsServiceConfig } from '../support/config-dir.js';
import { createTopics, uniqueName, waitFor } from '../support/kafka.js';

/**
 * A task that can never open — here its transactional producer asks for a transaction timeout above the broker's
 * transaction.max.timeout.ms (15 min by default), which InitProducerId refuses on every try — stops the streams with
 * a reason instead of being retried for ever behind a service that looks ready.
 */
describe('LightStreams: streams that stop on their own say why, and the service is not ready @broker', function () {
  this.timeout(120_000);
  let stateDir: string;
  let service: LightService | undefined;
  beforeEach(() => (stateDir = mkdtempSync(join(tmpdir(), 'light-kafka-open-failure-'))));
  afterEach(async () => {
    await service?.stop();
    service = undefined;
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('stops the streams with ERR12011 naming the task and the broker\'s refusal, and readiness turns DOWN', async () => {
    const input = uniqueName('open-failure-in');
    const output = uniqueName('open-failure-out');
    await createTopics([input, output], 1);
    const configDir = streamsServiceConfig('open-failure', uniqueName('open-failure'), stateDir, { streamsExtra: '  producer.transaction.timeout.ms: 1000000\n' });
    service = await LightService.create({ configDir });
    countTopology(service, input, output);
    await service.start();
    await produceCountInputs(input, ['k0'], 1);
    const streams = service.streams;
    await waitFor(() => streams.failure !== undefined, 60_000, 'the streams to stop on the task that cannot open');
    const failure = streams.failure!;
    expect(failure.code).to.equal('ERR12011');
    expect(failure.message).to.match(/Streams task \S+-0 failed: it cannot open and trying again cannot help: .*transaction timeout/i);
    const readiness = await service.readiness();
    expect(readiness.ready).to.equal(false);
    expect(readiness.checks.streams).to.equal(false);
  });

  it('failurePolicy: stop: a record that fails stops the streams with ERR12011 naming the record, and readiness turns DOWN', async () => {
    const input = uniqueName('policy-stop-in');
    const output = uniqueName('policy-stop-out');
    await createTopics([input, output], 1);
    const configDir = streamsServiceConfig('policy-stop', uniqueName('policy-stop'), stateDir, { consumerExtra: 'failurePolicy: stop\n' });
    service = await LightService.create({ configDir });
    service.streams
      .builder()
      .stream<string, { n: number }>(input)
      .mapValues((value) => {
        if (value.n === 2) throw new Error('n 2 is refused');
        return value;
      })
      .to(output);
    await service.start();
    await produceCountInputs(input, ['k0'], 1);
    await produceCountInputs(input, ['k0'], 2);
    await produceCountInputs(input, ['k0'], 3);
    const streams = service.streams;
    await waitFor(() => streams.failure !== undefined, 60_000, 'the streams to stop on the failed record');
    expect(streams.failure!.message).to.match(new RegExp(`a record failed under failurePolicy: stop \\(${input}-0@1\\): .*n 2 is refused`));
    const readiness = await service.readiness();
    expect([readiness.ready, readiness.checks.streams]).to.deep.equal([false, false]);
    // Stopped streams wait, not spin: kafkajs hands back the unresolved batch at once (a spin took 2.7 s of 3 s).
    const cpu = process.cpuUsage();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const used = process.cpuUsage(cpu);
    expect((used.user + used.system) / 1000, 'CPU ms of this process in the 3 s after the stop').to.be.below(1500);
  });
});
