import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { RecordHeaders } from '../../core/headers.js';
import { contextFromRecord, runWithContext } from '../../core/request-context.js';
import { LightService } from '../../index.js';
import { configDir, consumerYml, producerYml, serviceYml } from '../support/config-dir.js';
import { AUDIENCE, ISSUER, makeKey, signToken } from '../support/jwt.js';
import { createTopics, uniqueName } from '../support/kafka.js';

const SOAK_SECONDS = 60;
const RATE_PER_SECOND = 500;

/** A full garbage collection, also when node runs without --expose-gc. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

function heapAfterGc(): number {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

function timers(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;
}

describe('a bounded soak through the full chain @broker', function () {
  this.timeout((SOAK_SECONDS + 120) * 1000);

  it(`${SOAK_SECONDS} s at ${RATE_PER_SECOND} records/s produced and consumed: heap, listeners and timers stay flat`, async function () {
    if (process.env.SERVICE_TRANSPORT === 'librdkafka') this.skip(); // the framework's own memory: one transport is enough
    const topic = uniqueName('soak');
    await createTopics([topic], 3);
    const key = await makeKey('soak');
    const token = await signToken(key, { client_id: 'soak-client' });
    const dir = configDir({
      'service.yml': serviceYml('soak'),
      'kafka-consumer.yml': consumerYml(uniqueName('soak')),
      'kafka-producer.yml': producerYml(),
      'handler.yml': `handlers: [correlation, tracing, security, validation/json-schema@json, metrics, audit, kafka/producer@producer]
defaultHandlers:
  produce: [correlation, tracing, security, json, metrics, audit, producer]
  consume: [correlation, tracing, security, json, metrics, audit]
`,
      'security.yml': `jwt:\n  keys:\n    - kid: soak\n      file: soak.pem\n      alg: RS256\n  issuer: [${ISSUER}]\n  audience: [${AUDIENCE}]\nproduce:\n  verifyToken: true\n`,
      'soak.pem': key.publicPem,
      'tracing.yml': 'sampler:\n  type: const\n  param: 0\nreporter:\n  agentPort: 9\n',
      'json-schema.yml': `topics:\n  ${topic}:\n    value: order.schema.json\n`,
      'order.schema.json': JSON.stringify({ type: 'object', required: ['id', 'n'], properties: { id: { type: 'string' }, n: { type: 'integer' } } }),
      'metrics.yml': 'enabled: true\n',
    });
    writeFileSync(join(dir, 'audit.yml'), `auditFile: ${join(dir, 'audit.log')}\n`);
    const service = await LightService.create({ configDir: dir });
    let consumed = 0;
    service.consumer.handle(topic, () => void (consumed += 1));
    await service.start();
    const context = contextFromRecord(RecordHeaders.from({ Authorization: `Bearer ${token}`, 'X-Correlation-Id': 'soak' }));
    let produced = 0;
    const started = Date.now();
    let baseline: { heap: number; timers: number; events: number; process: number } | undefined;
    try {
      // Every 100 ms a call of RATE/10 records, awaited, so the rate holds steady and sends never pile up.
      while (Date.now() - started < SOAK_SECONDS * 1000) {
        const tick = Date.now();
        const records = Array.from({ length: RATE_PER_SECOND / 10 }, () => ({ key: `k${produced % 97}`, value: { id: `o-${produced}`, n: produced++ } }));
        await runWithContext(context, () => service.producer.send(topic, records));
        if (!baseline && Date.now() - started >= 10_000) {
          baseline = { heap: heapAfterGc(), timers: timers(), events: service.services.events.eventNames().reduce((sum, name) => sum + service.services.events.listenerCount(name), 0), process: process.eventNames().reduce((sum, name) => sum + process.listenerCount(name), 0) };
        }
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, 100 - (Date.now() - tick))));
      }
      const deadline = Date.now() + 30_000;
      while (consumed < produced && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(consumed, 'every produced record consumed').to.equal(produced);
      const heap = heapAfterGc();
      const events = service.services.events.eventNames().reduce((sum, name) => sum + service.services.events.listenerCount(name), 0);
      const processListeners = process.eventNames().reduce((sum, name) => sum + process.listenerCount(name), 0);
      expect(heap, `heap after GC: ${(baseline!.heap / 1e6).toFixed(1)} MB at 10 s, ${(heap / 1e6).toFixed(1)} MB at the end`).to.be.at.most(baseline!.heap * 1.1);
      expect(events, 'service event listeners').to.equal(baseline!.events);
      expect(processListeners, 'process listeners').to.equal(baseline!.process);
      expect(timers(), 'active timers').to.be.at.most(baseline!.timers + 2);
    } finally {
      await service.stop();
    }
  });
});
