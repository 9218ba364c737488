import { BUILTIN_CATALOG } from '../../handlers/index.js';
import { expect } from 'chai';
import { MockTracer } from 'opentracing';
import { buildChains } from '../../core/chain/chain-builder.js';
import { compose } from '../../core/chain/compose.js';
import { ConfigLoader } from '../../core/config/loader.js';
import { LightError } from '../../core/errors/light-error.js';
import { Exchange } from '../../core/exchange.js';
import { RecordHeaders } from '../../core/headers.js';
import { configDir, consumerYml, producerYml, serviceYml } from '../support/config-dir.js';
import { testServices } from '../support/services.js';
import { createServer } from 'node:http';
import { withRequestContext } from '../../core/http/server-context.js';
import { LightService } from '../../index.js';
import type { IncomingHttpHeaders } from 'node:http';
import { close, listen, startRecorder } from '../support/http.js';
import { createTopics, produceRaw, uniqueName, waitFor } from '../support/kafka.js';
import { JaegerAgentStub, OtlpHttpStub, type CollectedSpan } from '../support/trace-collectors.js';

interface MockSpanView {
  operationName(): string;
  tags(): Record<string, unknown>;
}

describe('tracing handler with a provided tracer', () => {
  it('uses the tracer passed in, marks failures on the span, and honours renamed tags', async () => {
    const tracer = new MockTracer();
    const dir = configDir({
      'handler.yml': 'handlers: [tracing]\ndefaultHandlers:\n  consume: [tracing]\n',
      'tracing.yml': 'tracer: provided\ntagNames:\n  destination: kafka.topic\n',
    });
    const loader = new ConfigLoader({ configDir: dir, env: {} });
    const { table } = await buildChains(loader, testServices(loader, { extra: { tracer } }), BUILTIN_CATALOG);
    const failing = compose([
      ...table.resolve('consume', 'orders')!.handlers,
      async () => {
        throw new LightError('ERR11000', { topic: 'orders', instancePath: '/n', reason: 'bad' });
      },
    ]);
    const exchange = new Exchange({ direction: 'consume', topic: 'orders', partition: 1, offset: '7', headers: RecordHeaders.from({ 'X-Correlation-Id': 'c-1' }) });
    await failing(exchange, async () => undefined).catch(() => undefined);

    const [span] = tracer.report().spans as unknown as MockSpanView[];
    expect(span!.operationName()).to.equal('orders process');
    expect(span!.tags()).to.include({
      'kafka.topic': 'orders',
      'messaging.system': 'kafka',
      'messaging.kafka.destination.partition': 1,
      'messaging.kafka.message.offset': '7',
      correlation_id: 'c-1',
      error: true,
      status_code: 400,
      error_code: 'ERR11000',
    });
  });

  it('refuses tracer: provided without a tracer', async () => {
    const dir = configDir({ 'handler.yml': 'handlers: [tracing]\n', 'tracing.yml': 'tracer: provided\n' });
    const loader = new ConfigLoader({ configDir: dir, env: {} });
    const error = await buildChains(loader, testServices(loader), BUILTIN_CATALOG).then(() => undefined, (e: unknown) => e);
    expect(String(error)).to.contain('ERR13001').and.contain('tracing.yml').and.contain('tracer');
  });
});

const HANDLER_YML = `handlers: [correlation, tracing, kafka/producer@producer]
defaultHandlers:
  produce: [correlation, tracing, producer]
  consume: [correlation, tracing]
`;

function tracingYml(tracer: 'jaeger' | 'opentelemetry', target: string, samplerParam = 1): string {
  return `tracer: ${tracer}
sampler:
  type: const
  param: ${samplerParam}
reporter:
  agentHost: 127.0.0.1
  agentPort: ${tracer === 'jaeger' ? target : 6832}
  flushIntervalMs: 100
otlp:
  endpoint: ${tracer === 'opentelemetry' ? target : 'http://127.0.0.1:4318/v1/traces'}
`;
}

interface Hops {
  receivedByC: Exchange[];
  /** Headers of the HTTP calls B made while processing (through service.fetch). */
  httpFromB: IncomingHttpHeaders[];
  stopAll(): Promise<void>;
  request(headers?: Record<string, string>): Promise<number>;
}

/** HTTP -> A -> Kafka(first) -> B -> Kafka(second) -> C, every service with the tracing handler. */
async function startHops(tracer: 'jaeger' | 'opentelemetry', target: string, samplerParam = 1): Promise<Hops> {
  const first = uniqueName('trace-a');
  const second = uniqueName('trace-b');
  await createTopics([first, second, `${first}.dlq`, `${second}.dlq`]);
  const config = (serviceId: string): string =>
    configDir({
      'handler.yml': HANDLER_YML,
      'service.yml': serviceYml(serviceId),
      'tracing.yml': tracingYml(tracer, target, samplerParam),
      'kafka-consumer.yml': consumerYml(uniqueName(serviceId)),
      'kafka-producer.yml': producerYml(),
    });
  const a = await LightService.create({ configDir: config('trace-svc-a') });
  const b = await LightService.create({ configDir: config('trace-svc-b') });
  const c = await LightService.create({ configDir: config('trace-svc-c') });
  const recorder = await startRecorder();
  b.consumer.handle(first, async (exchange) => {
    await b.fetch(recorder.url);
    await b.producer.send(second, { key: exchange.keyString, value: exchange.value });
  });
  const receivedByC: Exchange[] = [];
  c.consumer.handle(second, (exchange) => void receivedByC.push(exchange));
  const server = createServer(
    withRequestContext((_req, res) => {
      a.producer.send(first, { key: 'k1', value: { hop: 'a' } }).then(() => res.end('ok'), () => ((res.statusCode = 500), res.end()));
    }),
  );
  const url = await listen(server);
  for (const service of [a, b, c]) await service.start();
  return {
    receivedByC,
    httpFromB: recorder.seen,
    request: async (headers = {}) => (await fetch(url, { method: 'POST', headers })).status,
    stopAll: async () => {
      await close(server);
      await recorder.stop();
      // Stopping flushes each tracer.
      for (const service of [a, b, c]) await service.stop();
    },
  };
}

function byName(spans: CollectedSpan[], suffix: string, service: string): CollectedSpan {
  const span = spans.find((candidate) => candidate.service === service && candidate.name.endsWith(suffix));
  expect(span, `a span "${suffix}" of ${service} in ${JSON.stringify(spans.map((s) => `${s.service}:${s.name}`))}`).to.not.equal(undefined);
  return span!;
}

/** The tree every scenario must form: A send -> B process -> B send -> C process, one trace. */
function expectHopTree(spans: CollectedSpan[]): void {
  const aSend = byName(spans, ' send', 'trace-svc-a');
  const bProcess = byName(spans, ' process', 'trace-svc-b');
  const bSend = byName(spans, ' send', 'trace-svc-b');
  const cProcess = byName(spans, ' process', 'trace-svc-c');
  expect(new Set([aSend, bProcess, bSend, cProcess].map((span) => span.traceId)).size, 'one trace id').to.equal(1);
  expect(aSend.parentSpanId).to.equal(undefined);
  expect(bProcess.parentSpanId).to.equal(aSend.spanId);
  expect(bProcess.followsFrom).to.deep.equal([aSend.spanId]);
  expect(bSend.parentSpanId).to.equal(bProcess.spanId);
  expect(cProcess.parentSpanId).to.equal(bSend.spanId);
  expect(cProcess.followsFrom).to.deep.equal([bSend.spanId]);
  expect(bProcess.tags).to.include({ 'messaging.system': 'kafka', 'messaging.operation': 'process', 'messaging.kafka.message.key': 'k1', status_code: 200 });
  expect(bProcess.tags['messaging.destination.name']).to.match(/^trace-a-/);
  expect(bProcess.tags['messaging.kafka.consumer.group']).to.match(/^trace-svc-b-/);
  expect(bProcess.tags['messaging.kafka.message.offset']).to.equal('0');
  expect(bProcess.tags['messaging.kafka.destination.partition']).to.equal(0);
  expect(aSend.tags).to.include({ 'messaging.operation': 'publish', 'messaging.kafka.destination.partition': 0 });
  expect(aSend.tags.correlation_id).to.be.a('string');
  expect(cProcess.tags.correlation_id).to.equal(aSend.tags.correlation_id);
}

describe('tracing across Kafka hops @broker', function () {
  this.timeout(120_000);

  it('jaeger: spans reach the agent over UDP as one trace with the expected references and tags', async () => {
    const agent = await JaegerAgentStub.start();
    const hops = await startHops('jaeger', String(agent.port));
    try {
      expect(await hops.request()).to.equal(200);
      await waitFor(() => hops.receivedByC.length === 1, 60_000, 'the record at C');
      expect(hops.receivedByC[0]!.headers.get('uber-trace-id')).to.match(/^[0-9a-f]+:[0-9a-f]+:[0-9a-f]+:1$/);
    } finally {
      await hops.stopAll();
    }
    // Four Kafka spans and B's client span (its HTTP call).
    await waitFor(() => agent.spans.length >= 5, 10_000, 'five spans at the agent');
    await agent.stop();
    expectHopTree(agent.spans);
    // The HTTP call B made while processing has a client span, a child of B's process span, and carries it.
    const [traceId, spanId] = String(hops.httpFromB[0]!['uber-trace-id']).split(':');
    const bProcess = byName(agent.spans, ' process', 'trace-svc-b');
    const bCall = byName(agent.spans, 'GET', 'trace-svc-b');
    expect(bCall.tags).to.include({ 'span.kind': 'client', 'http.method': 'GET', 'http.status_code': 200 });
    expect(bCall.parentSpanId).to.equal(bProcess.spanId);
    expect(spanId!.padStart(16, '0')).to.equal(bCall.spanId);
    expect(bProcess.traceId.endsWith(traceId!.padStart(16, '0'))).to.equal(true);
  });

  it('opentelemetry: spans reach an OTLP/HTTP endpoint as one trace; traceparent travels in the records', async () => {
    const collector = await OtlpHttpStub.start();
    const hops = await startHops('opentelemetry', collector.url);
    try {
      expect(await hops.request()).to.equal(200);
      await waitFor(() => hops.receivedByC.length === 1, 60_000, 'the record at C');
      expect(hops.receivedByC[0]!.headers.get('traceparent')).to.match(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    } finally {
      await hops.stopAll();
    }
    await waitFor(() => collector.spans.length >= 5, 10_000, 'five spans at the collector (four Kafka spans and B\'s client span)');
    await collector.stop();
    expectHopTree(collector.spans);
  });

  it('continues the trace of an incoming HTTP request that carries trace context', async () => {
    const agent = await JaegerAgentStub.start();
    const hops = await startHops('jaeger', String(agent.port));
    const callerTrace = 'aaaaaaaaaaaaaaaa';
    try {
      await hops.request({ 'uber-trace-id': `${callerTrace}:bbbbbbbbbbbbbbbb:0:1` });
      await waitFor(() => hops.receivedByC.length === 1, 60_000, 'the record at C');
    } finally {
      await hops.stopAll();
    }
    await waitFor(() => agent.spans.length >= 5, 10_000, 'five spans');
    await agent.stop();
    const aSend = byName(agent.spans, ' send', 'trace-svc-a');
    expect(aSend.traceId.endsWith(callerTrace)).to.equal(true);
    expect(aSend.parentSpanId).to.equal('bbbbbbbbbbbbbbbb');
  });

  it('a garbage trace header starts a fresh trace and the record is processed; sampling off emits nothing but still propagates', async () => {
    const agent = await JaegerAgentStub.start();
    const topic = uniqueName('trace-garbage');
    await createTopics([topic, `${topic}.dlq`]);
    const service = await LightService.create({
      configDir: configDir({
        'handler.yml': HANDLER_YML,
        'service.yml': serviceYml('trace-garbage'),
        'tracing.yml': tracingYml('jaeger', String(agent.port)),
        'kafka-consumer.yml': consumerYml(uniqueName('garbage')),
        'kafka-producer.yml': producerYml(),
      }),
    });
    const seen: Exchange[] = [];
    service.consumer.handle(topic, (exchange) => void seen.push(exchange));
    await service.start();
    try {
      await produceRaw(topic, [{ value: '{"n":1}', headers: { 'uber-trace-id': 'this-is-not:a-trace' } }, { value: '{"n":2}', headers: { traceparent: 'garbage' } }]);
      await waitFor(() => seen.length === 2, 30_000, 'both records');
    } finally {
      await service.stop();
    }
    await waitFor(() => agent.spans.length >= 2, 10_000, 'two spans');
    for (const span of agent.spans) {
      expect(span.parentSpanId).to.equal(undefined);
      expect(span.followsFrom).to.deep.equal([]);
    }

    const unsampledAgent = await JaegerAgentStub.start();
    const hops = await startHops('jaeger', String(unsampledAgent.port), 0);
    try {
      await hops.request();
      await waitFor(() => hops.receivedByC.length === 1, 60_000, 'the record at C');
      expect(hops.receivedByC[0]!.headers.get('uber-trace-id')).to.match(/^[0-9a-f]+:[0-9a-f]+:[0-9a-f]+:0$/);
    } finally {
      await hops.stopAll();
    }
    // Stopping flushed the three tracers; the sentinel arrives after anything they sent.
    await unsampledAgent.sentinel();
    expect(unsampledAgent.spans.map((span) => span.service)).to.deep.equal(['sentinel']);
    await unsampledAgent.stop();
    await agent.stop();
  });

  it('a transactional batch: one producer span per record under one transaction span', async () => {
    const agent = await JaegerAgentStub.start();
    const topic = uniqueName('trace-tx');
    await createTopics([topic]);
    const service = await LightService.create({
      configDir: configDir({
        'handler.yml': HANDLER_YML,
        'service.yml': serviceYml('trace-tx'),
        'tracing.yml': tracingYml('jaeger', String(agent.port)),
        'kafka-producer.yml': producerYml(`  transactional.id: ${uniqueName('tx')}\n`),
      }),
    });
    await service.start();
    try {
      await service.transactionalProducer.transaction(async (tx) => {
        await tx.send(topic, [{ value: { n: 1 } }, { value: { n: 2 } }]);
      });
    } finally {
      await service.stop();
    }
    await waitFor(() => agent.spans.length >= 3, 10_000, 'three spans');
    await agent.stop();
    const transaction = agent.spans.find((span) => span.name.startsWith('transaction '))!;
    const sends = agent.spans.filter((span) => span.name === `${topic} send`);
    expect(transaction, JSON.stringify(agent.spans.map((span) => span.name))).to.not.equal(undefined);
    expect(sends).to.have.length(2);
    for (const send of sends) {
      expect(send.parentSpanId).to.equal(transaction.spanId);
      expect(send.traceId).to.equal(transaction.traceId);
    }
  });
});
