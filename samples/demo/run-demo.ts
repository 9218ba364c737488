/**
 * `npm run demo`: starts a local Kafka (unless one runs or KAFKA_BROKERS is set), starts the order service,
 * sends one HTTP request, shows the record arriving through the consume chain, and stops everything.
 */
import { randomUUID } from 'node:crypto';
import { ensureKafka } from '../../scripts/kafka-local.js';
import type { ConsumedEvent, Exchange } from '../../index.js';
import { PROCESSING_MS } from './handlers/stamp.js';
import { ORDERS_TOPIC, startOrderService } from './order-service.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
process.env.LOG_LEVEL ??= 'error';

function say(line: string): void {
  console.log(`[demo] ${line}`);
}

async function main(): Promise<void> {
  say('starting Kafka (the first run fetches the jars with Maven)');
  const kafka = await ensureKafka();
  process.env.KAFKA_BROKERS = kafka.brokers;
  say(`Kafka at ${kafka.brokers}${kafka.owned ? ' (started for this demo)' : ' (already running)'}`);

  const correlationId = randomUUID();
  let resolveArrival!: (exchange: Exchange) => void;
  const arrived = new Promise<Exchange>((resolve) => (resolveArrival = resolve));
  // The business handler sees our record; the consumer's 'record' event says its whole chain has finished.
  const ours = new Map<string, Exchange>();
  const orderService = await startOrderService({
    onOrder: (exchange) => {
      if (exchange.headers.get('x-correlation-id') === correlationId) ours.set(`${exchange.partition}@${exchange.offset}`, exchange);
    },
  });
  orderService.service.consumer.on('record', (event: ConsumedEvent) => {
    const exchange = ours.get(`${event.partition}@${event.offset}`);
    if (exchange) resolveArrival(exchange);
  });
  try {
    const url = `http://127.0.0.1:${orderService.port}/orders`;
    const order = { id: `order-${correlationId.slice(0, 8)}`, item: 'coffee beans', quantity: 2 };
    say(`POST ${url} ${JSON.stringify(order)} with X-Correlation-Id: ${correlationId}`);
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'X-Correlation-Id': correlationId, 'X-Traceability-Id': 'demo-trace-1' },
      body: JSON.stringify(order),
    });
    say(`HTTP ${response.status} ${await response.text()}`);
    if (response.status !== 202) throw new Error('the order service did not accept the order');

    const timeout = setTimeout(() => {
      console.error('[demo] the record did not arrive within 60 s');
      process.exit(1);
    }, 60_000);
    const exchange = await arrived;
    clearTimeout(timeout);
    say(`record arrived on ${exchange.topic} partition ${exchange.partition} offset ${exchange.offset}`);
    say(`  key:     ${exchange.keyString}`);
    say(`  value:   ${JSON.stringify(exchange.value)}`);
    for (const [name, value] of exchange.headers) say(`  header:  ${name}: ${value.toString('utf8')}`);
    say(`  consume chain took ${(exchange.attachments.get(PROCESSING_MS) ?? 0).toFixed(2)} ms`);
  } finally {
    say('stopping the service');
    await orderService.stop();
    if (kafka.owned) {
      say('stopping Kafka');
      await kafka.stop();
    }
  }
  say(`done: HTTP -> produce chain -> ${ORDERS_TOPIC} -> consume chain -> business handler`);
}

main().catch((error: unknown) => {
  console.error(`[demo] failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
