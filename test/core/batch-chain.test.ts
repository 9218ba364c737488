import { createHook } from 'node:async_hooks';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { Registry } from 'prom-client';
import { Shared, TypedMap } from '../../core/attachments.js';
import { Chain, type BatchScope } from '../../core/chain/chain.js';
import { buildChains } from '../../core/chain/chain-builder.js';
import { ConfigLoader } from '../../core/config/loader.js';
import { LightError } from '../../core/errors/light-error.js';
import { Exchange } from '../../core/exchange.js';
import { PROPAGATED_HEADERS, RecordHeaders } from '../../core/headers.js';
import { RecordContext, runWithContext } from '../../core/request-context.js';
import { BUILTIN_CATALOG } from '../../handlers/index.js';
import { configDir } from '../support/config-dir.js';
import { AUDIENCE, ISSUER, makeKey, signToken, type TestKey } from '../support/jwt.js';
import { testServices } from '../support/services.js';
import { OtlpHttpStub } from '../support/trace-collectors.js';

/**
 * The built-in consume chain run the way LightConsumer runs a fetched batch: beginBatch once, each record in its
 * request context, endBatch once. No broker.
 */
async function fullChain(key: TestKey, otlp: OtlpHttpStub, extraTracing = '') {
  const dir = configDir({
    'handler.yml': `handlers: [correlation, security, validation/json-schema@validate, tracing, metrics, audit]
defaultHandlers:
  consume: [correlation, tracing, metrics, audit, security, validate]
`,
    'security.yml': `jwt:\n  keys:\n    - kid: signer\n      file: keys/signer.pem\n      alg: RS256\n  issuer: [${ISSUER}]\n  audience: [${AUDIENCE}]\n`,
    'keys/signer.pem': key.publicPem,
    'json-schema.yml': 'topics:\n  orders:\n    value: order.json\n',
    'order.json': JSON.stringify({ type: 'object', required: ['n'], properties: { n: { type: 'integer' } } }),
    'tracing.yml': `tracer: opentelemetry\nsampler:\n  type: probabilistic\n  param: 1\notlp:\n  endpoint: ${otlp.url}\nreporter:\n  flushIntervalMs: 50\n${extraTracing}`,
    'metrics.yml': 'server:\n  enabled: false\ncollectDefaultMetrics: false\n',
    'audit.yml': 'auditFile: AUDIT_FILE\n',
  });
  const auditFile = join(dir, 'audit.log');
  const yml = readFileSync(join(dir, 'audit.yml'), 'utf8').replace('AUDIT_FILE', auditFile);
  (await import('node:fs')).writeFileSync(join(dir, 'audit.yml'), yml);
  const loader = new ConfigLoader({ configDir: dir, env: {} });
  const closeHooks: (() => Promise<void> | void)[] = [];
  const registry = new Registry();
  const shared = new TypedMap();
  const services = testServices(loader, { metricsRegistry: registry, shared, addCloseHook: (hook) => void closeHooks.push(hook) });
  const { table } = await buildChains(loader, services, BUILTIN_CATALOG);
  const chain = new Chain(table.resolve('consume', 'orders')!.handlers);
  const close = async (): Promise<void> => {
    for (const hook of closeHooks) await hook();
  };
  return { chain, auditFile, registry, stats: shared.get(Shared.verificationStats)!, close };
}

function consumed(offset: number, headers: Record<string, string>, value: unknown = { n: offset }): Exchange {
  const recordHeaders = RecordHeaders.fromKafka(Object.fromEntries(Object.entries(headers).map(([name, text]) => [name, Buffer.from(text)])));
  const exchange = new Exchange({ direction: 'consume', topic: 'orders', partition: 0, offset: String(offset), key: `k${offset}`, rawValue: Buffer.from(JSON.stringify(value)), value, headers: recordHeaders, consumerGroup: 'g' });
  exchange.context = new RecordContext(recordHeaders, PROPAGATED_HEADERS);
  return exchange;
}

/** Runs each record; returns its error, or undefined. */
async function runAll(chain: Chain, exchanges: Exchange[], scope: BatchScope): Promise<(unknown | undefined)[]> {
  const errors: unknown[] = [];
  for (const exchange of exchanges) {
    try {
      await runWithContext(exchange.context!, () => chain.run(exchange, (record) => void record.value, scope));
      errors.push(undefined);
    } catch (error) {
      errors.push(error);
    }
  }
  return errors;
}

describe('batch-aware chains: the built-in consume chain over one batch', () => {
  let key: TestKey;
  let otlp: OtlpHttpStub;
  before(async () => {
    key = await makeKey('signer');
    otlp = await OtlpHttpStub.start();
  });
  after(() => otlp.stop());

  it('runs a record of a batch through every built-in handler without creating a single promise', async () => {
    const { chain, close } = await fullChain(key, otlp);
    const token = await signToken(key, { scope: 'order.w' });
    const exchanges = Array.from({ length: 50 }, (_, i) => consumed(i, { Authorization: `Bearer ${token}`, 'X-Correlation-Id': `c-${i}`, caller_id: 'svc-a' }));
    const scope = await chain.beginBatch(exchanges);
    let promises = 0;
    const hook = createHook({ init: (_id, type) => void (type === 'PROMISE' && (promises += 1)) }).enable();
    let results: unknown[];
    try {
      results = exchanges.map((exchange) => runWithContext(exchange.context!, () => chain.run(exchange, (record) => void record.value, scope)));
    } finally {
      hook.disable();
    }
    expect(results.every((result) => result === undefined)).to.equal(true);
    expect(promises).to.equal(0);
    await chain.endBatch(exchanges, scope);
    await close();
  });

  it('verifies each distinct token once per batch; failures stay with their own records', async () => {
    const { chain, stats, close } = await fullChain(key, otlp);
    const tokenA = await signToken(key, { client_id: 'a' });
    const tokenB = await signToken(key, { client_id: 'b' });
    const expired = await signToken(key, {}, { expiresInSeconds: -3600 });
    const headers = (token: string, i: number) => ({ Authorization: `Bearer ${token}`, 'X-Correlation-Id': `c-${i}` });
    const exchanges = [
      ...Array.from({ length: 40 }, (_, i) => consumed(i, headers(i % 2 ? tokenA : tokenB, i))),
      consumed(40, headers(expired, 40)),
      consumed(41, headers(tokenA, 41), { n: 'not a number' }),
      consumed(42, { 'X-Correlation-Id': 'c-42' }),
    ];
    const before = stats.verifications + stats.cacheHits;
    const scope = await chain.beginBatch(exchanges);
    const errors = await runAll(chain, exchanges, scope);
    await chain.endBatch(exchanges, scope);
    expect(stats.verifications + stats.cacheHits - before).to.equal(3);
    expect(errors.slice(0, 40).every((error) => error === undefined)).to.equal(true);
    expect(errors.slice(40).map((error) => (error as LightError).code)).to.deep.equal(['ERR10001', 'ERR11000', 'ERR10002']);
    await close();
  });

  it('counts a batch per label set, with the status of each record, and writes its audit lines at endBatch', async () => {
    const { chain, registry, auditFile, close } = await fullChain(key, otlp);
    const token = await signToken(key, { client_id: 'client-x' });
    const exchanges = Array.from({ length: 10 }, (_, i) => consumed(i, { Authorization: `Bearer ${token}`, caller_id: 'svc-a' }, i === 3 ? { n: 'x' } : { n: i }));
    const scope = await chain.beginBatch(exchanges);
    await runAll(chain, exchanges, scope);
    const linesBefore = readLines(auditFile);
    await chain.endBatch(exchanges, scope);
    await close();
    expect(linesBefore).to.have.length(0);
    const lines = readLines(auditFile);
    expect(lines).to.have.length(10);
    expect(lines.filter((line) => line.statusCode === 400).map((line) => line.offset)).to.deep.equal(['3']);
    const counts = (await registry.getSingleMetricAsString('light_kafka_records_total')).split('\n').filter((line) => line.startsWith('light_kafka_records_total{'));
    expect(counts).to.have.members([
      'light_kafka_records_total{serviceId="test-service",topic="orders",direction="consume",clientId="client-x",callerId="svc-a",status="200"} 9',
      'light_kafka_records_total{serviceId="test-service",topic="orders",direction="consume",clientId="client-x",callerId="svc-a",status="400"} 1',
    ]);
  });

  it('traces records not sampled one by one with one process span per batch, linked to their producers', async () => {
    const { chain, close } = await fullChain(key, otlp);
    const token = await signToken(key);
    const unsampled = (i: number) => `00-${'a'.repeat(30)}${String(i).padStart(2, '0')}-${'b'.repeat(15)}${i % 10}-00`;
    const sampled = `00-${'c'.repeat(32)}-${'d'.repeat(16)}-01`;
    const exchanges = [
      ...Array.from({ length: 4 }, (_, i) => consumed(i, { Authorization: `Bearer ${token}`, traceparent: unsampled(i) })),
      consumed(4, { Authorization: `Bearer ${token}` }),
      consumed(5, { Authorization: `Bearer ${token}`, traceparent: sampled }),
    ];
    const spansBefore = otlp.spans.length;
    const scope = await chain.beginBatch(exchanges);
    await runAll(chain, exchanges, scope);
    await chain.endBatch(exchanges, scope);
    await close();
    const spans = otlp.spans.slice(spansBefore);
    const batchSpan = spans.find((span) => span.tags['messaging.batch.message_count'] !== undefined);
    expect(batchSpan, JSON.stringify(spans)).to.not.equal(undefined);
    expect(batchSpan!.tags['messaging.batch.message_count']).to.equal(5);
    expect(batchSpan!.followsFrom).to.have.length(4);
    const own = spans.filter((span) => span !== batchSpan);
    expect(own).to.have.length(1);
    expect(own[0]!.traceId).to.equal('c'.repeat(32));
    expect(own[0]!.tags['messaging.kafka.message.offset']).to.equal('5');
  });
});

function readLines(file: string): Record<string, unknown>[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
}
