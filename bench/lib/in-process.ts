import { BUILTIN_CATALOG } from '../../handlers/index.js';
import { compose } from '../../core/chain/compose.js';
import { buildChains } from '../../core/chain/chain-builder.js';
import type { Handler } from '../../core/chain/handler.js';
import { Exchange } from '../../core/exchange.js';
import { PROPAGATED_HEADERS, RecordHeaders } from '../../core/headers.js';
import { HeaderPropagation } from '../../core/propagation.js';
import { contextFromRecord, runWithContext } from '../../core/request-context.js';
import type { LightService } from '../../index.js';

const passThrough = (): Handler =>
  async function passThrough(_exchange, next) {
    await next();
  };

const noop = async (): Promise<void> => undefined;

/** µs per record through a chain of `size` pass-through handlers, no broker. */
export async function chainOverheadMicros(size: number, iterations: number): Promise<number> {
  const chain = compose(Array.from({ length: size }, passThrough));
  const exchange = new Exchange({ direction: 'consume', topic: 'bench' });
  for (let i = 0; i < 10_000; i++) await chain(exchange, noop);
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await chain(exchange, noop);
  return Number(process.hrtime.bigint() - started) / 1e3 / iterations;
}

/**
 * µs per record through the full consume chain (correlation, tracing, metrics, audit to a file, security with the
 * token already verified, JSON Schema) as the consumer runs it: a fresh exchange and request context per record.
 */
export async function fullChainMicros(service: LightService, topic: string, token: string, value: object, iterations: number): Promise<number> {
  // A second build of the service's chains: handlers register their header names in a propagation of their own
  // (the service's is frozen once it started).
  const services = { ...service.services, propagation: new HeaderPropagation(service.services.propagation.extras) };
  const { table } = await buildChains(service.config, services, BUILTIN_CATALOG);
  const chain = compose([...table.resolve('consume', topic)!.handlers, async () => undefined]);
  const raw = Buffer.from(JSON.stringify(value));
  const run = async (n: number): Promise<void> => {
    const headers = RecordHeaders.from({ Authorization: `Bearer ${token}`, 'X-Correlation-Id': `c-${n}`, caller_id: 'bench-producer' });
    const exchange = new Exchange({ direction: 'consume', topic, partition: 0, offset: String(n), key: `k${n % 64}`, rawValue: raw, headers });
    await runWithContext(contextFromRecord(headers), () => chain(exchange, noop));
  };
  for (let i = 0; i < 2_000; i++) await run(i);
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await run(i);
  return Number(process.hrtime.bigint() - started) / 1e3 / iterations;
}

/**
 * µs per record of the consumer's own work around an empty chain (decode, exchange, request context, outcome),
 * as RecordProcessor does it for every consumed record, no broker.
 */
export async function consumerRecordMicros(iterations: number): Promise<number> {
  const { RecordProcessor } = await import('../../core/kafka/record-processor.js');
  const { createLogger } = await import('../../core/logger.js');
  const { default: consumeTransport } = await import('../../handlers/kafka/consumer.js');
  const policy = { failurePolicy: 'deadLetter', deadLetterEnabled: true, maxRetries: 0, retryDelayMs: 0, retryBackoffMultiplier: 1, maxRetryDelayMs: 0 } as const;
  const processor = new RecordProcessor({
    policy,
    deadLetters: { write: async () => 'unused' },
    groupId: 'bench',
    propagatedHeaders: PROPAGATED_HEADERS,
    logger: createLogger({ level: 'silent' }),
  });
  const transport = await consumeTransport.create({ keyFormat: 'string', valueFormat: 'json' } as never, undefined as never);
  // The transport decodes lazily: the business handler reads the value, as every real one does.
  const chain = compose([transport, async (exchange) => void exchange.value]);
  const value = Buffer.from(JSON.stringify({ id: 'order-1', n: 1, pad: 'x'.repeat(60) }));
  const headers = { Authorization: Buffer.from('Bearer x'), 'X-Correlation-Id': Buffer.from('c-1'), caller_id: Buffer.from('svc') };
  const record = (n: number) => ({
    topic: 'bench',
    partition: 0,
    offset: String(n),
    timestamp: '1700000000000',
    key: Buffer.from(`k${n % 64}`),
    value,
    headers: RecordHeaders.from(headers),
  });
  const control = { isRunning: (): boolean => true, heartbeat: async (): Promise<void> => undefined };
  for (let i = 0; i < 20_000; i++) await processor.process(record(i), chain, control);
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await processor.process(record(i), chain, control);
  return Number(process.hrtime.bigint() - started) / 1e3 / iterations;
}
