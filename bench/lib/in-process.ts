import { BUILTIN_CATALOG } from '../../handlers/index.js';
import { Chain } from '../../core/chain/chain.js';
import { compose } from '../../core/chain/compose.js';
import { buildChains } from '../../core/chain/chain-builder.js';
import type { Handler } from '../../core/chain/handler.js';
import { Exchange } from '../../core/exchange.js';
import { PROPAGATED_HEADERS, RecordHeaders } from '../../core/headers.js';
import { HeaderPropagation } from '../../core/propagation.js';
import { RecordContext, runWithContext } from '../../core/request-context.js';
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

/** Records per batch in the in-process rows: what one kafkajs fetch of 100 B records hands over. */
const BATCH = 500;

/**
 * µs per record through the full consume chain (correlation, tracing, metrics, audit to a file, security with the
 * token already verified, JSON Schema) as the consumer runs it: a fresh exchange and request context per record,
 * records in batches of 500 sharing their handlers' batch phases.
 */
export async function fullChainMicros(service: LightService, topic: string, token: string, value: object, iterations: number): Promise<number> {
  // A second build of the service's chains: handlers register their header names in a propagation of their own
  // (the service's is frozen once it started).
  const services = { ...service.services, propagation: new HeaderPropagation(service.services.propagation.extras) };
  const { table } = await buildChains(service.config, services, BUILTIN_CATALOG);
  const chain = new Chain(table.resolve('consume', topic)!.handlers);
  const raw = Buffer.from(JSON.stringify(value));
  const authorization = Buffer.from(`Bearer ${token}`);
  const caller = Buffer.from('bench-producer');
  const exchangeOf = (n: number): Exchange => {
    const headers = RecordHeaders.fromKafka({ Authorization: authorization, 'X-Correlation-Id': Buffer.from(`c-${n}`), caller_id: caller });
    const exchange = new Exchange({ direction: 'consume', topic, partition: 0, offset: String(n), key: Buffer.from(`k${n % 64}`), rawValue: raw, headers, consumerGroup: 'bench' });
    exchange.context = new RecordContext(headers, PROPAGATED_HEADERS);
    return exchange;
  };
  const business = (exchange: Exchange): void => void exchange.value;
  const runBatches = async (count: number): Promise<void> => {
    for (let done = 0; done < count; done += BATCH) {
      const exchanges = Array.from({ length: Math.min(BATCH, count - done) }, (_, i) => exchangeOf(done + i));
      const scope = await chain.beginBatch(exchanges);
      for (const exchange of exchanges) {
        const pending = runWithContext(exchange.context!, () => chain.run(exchange, business, scope));
        if (pending) await pending;
      }
      await chain.endBatch(exchanges, scope);
    }
  };
  await runBatches(5_000);
  const started = process.hrtime.bigint();
  await runBatches(iterations);
  return Number(process.hrtime.bigint() - started) / 1e3 / iterations;
}

/**
 * µs per record of the consumer's own work around an empty chain (exchange, request context, decode, outcome),
 * as LightConsumer does it for every record of a batch, no broker.
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
  const route = { chain: new Chain([transport]), terminal: (exchange: Exchange) => void exchange.value };
  const value = Buffer.from(JSON.stringify({ id: 'order-1', n: 1, pad: 'x'.repeat(60) }));
  const headers = { Authorization: Buffer.from('Bearer x'), 'X-Correlation-Id': Buffer.from('c-1'), caller_id: Buffer.from('svc') };
  const message = (n: number) => ({ offset: String(n), timestamp: '1700000000000', key: Buffer.from(`k${n % 64}`), value, headers });
  const runBatches = async (count: number): Promise<void> => {
    for (let done = 0; done < count; done += BATCH) {
      const exchanges = Array.from({ length: Math.min(BATCH, count - done) }, (_, i) => processor.exchangeOf('bench', 0, message(done + i), '1000000'));
      const scope = await route.chain.beginBatch(exchanges);
      for (const exchange of exchanges) {
        const pending = processor.runAttempt(exchange, route, scope);
        if (pending) await pending;
      }
      await route.chain.endBatch(exchanges, scope);
    }
  };
  await runBatches(20_000);
  const started = process.hrtime.bigint();
  await runBatches(iterations);
  return Number(process.hrtime.bigint() - started) / 1e3 / iterations;
}
