import type { KafkaMessage } from 'kafkajs';
import { compose } from '../../core/chain/compose.js';
import { buildChains } from '../../core/chain/chain-builder.js';
import type { Handler } from '../../core/chain/handler.js';
import { Exchange } from '../../core/exchange.js';
import { RecordHeaders } from '../../core/headers.js';
import { contextFromRecord, runWithContext } from '../../core/request-context.js';
import type { LightService } from '../../core/service.js';

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
  const { table } = await buildChains(service.config, service.services);
  const chain = compose([...table.resolve('consume', topic)!.handlers, async () => undefined]);
  const raw = Buffer.from(JSON.stringify(value));
  const run = async (n: number): Promise<void> => {
    const headers = RecordHeaders.from({ Authorization: `Bearer ${token}`, 'X-Correlation-Id': `c-${n}`, caller_id: 'bench-producer' });
    const exchange = new Exchange({ direction: 'consume', topic, partition: 0, offset: String(n), key: `k${n % 64}`, rawValue: raw, value: JSON.parse(raw.toString('utf8')), headers });
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
  const { RecordProcessor } = await import('../../handlers/kafka/record-processor.js');
  const { createLogger } = await import('../../core/logger.js');
  const config = {
    properties: {}, keyFormat: 'string', valueFormat: 'json', failurePolicy: 'deadLetter', deadLetterEnabled: true, deadLetterTopicExt: '.dlq',
    maxRetries: 0, retryDelayMs: 0, retryBackoffMultiplier: 1, maxRetryDelayMs: 0, partitionsConsumedConcurrently: 1, stackTraceMaxBytes: 0, subscribeTimeoutMs: 0,
  } as const;
  const processor = new RecordProcessor(config, undefined as never, 'bench', createLogger({ level: 'silent' }));
  const chain = { handler: compose([async () => undefined]), decodesValue: false };
  const value = Buffer.from(JSON.stringify({ id: 'order-1', n: 1, pad: 'x'.repeat(60) }));
  const headers = { Authorization: Buffer.from('Bearer x'), 'X-Correlation-Id': Buffer.from('c-1'), caller_id: Buffer.from('svc') };
  const message = (n: number): KafkaMessage => ({ key: Buffer.from(`k${n % 64}`), value, headers, offset: String(n), timestamp: '1700000000000', attributes: 0, size: 0 }) as unknown as KafkaMessage;
  const running = (): boolean => true;
  const heartbeat = async (): Promise<void> => undefined;
  for (let i = 0; i < 20_000; i++) await processor.process({ topic: 'bench', partition: 0, message: message(i) }, chain, running, heartbeat);
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await processor.process({ topic: 'bench', partition: 0, message: message(i) }, chain, running, heartbeat);
  return Number(process.hrtime.bigint() - started) / 1e3 / iterations;
}
