import { createServer, type IncomingMessage, type Server } from 'node:http';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LightError, LightService, withRequestContext, type Exchange } from '../../index.js';

export const ORDERS_TOPIC = 'demo.orders';
export const DEMO_CONFIG_DIR = join(dirname(fileURLToPath(import.meta.url)), 'config');

export interface OrderService {
  service: LightService;
  server: Server;
  port: number;
  stop(): Promise<void>;
}

/**
 * The demo service: POST /orders (JSON) -> produce chain -> demo.orders -> consume chain -> a business handler
 * that logs the record with its headers.
 */
export async function startOrderService(options: { port?: number; onOrder?: (exchange: Exchange) => void } = {}): Promise<OrderService> {
  const service = await LightService.create({ configDir: DEMO_CONFIG_DIR });
  service.consumer.handle(ORDERS_TOPIC, (exchange) => {
    service.logger.info('order consumed', {
      topic: exchange.topic,
      partition: exchange.partition,
      offset: exchange.offset,
      key: exchange.keyString,
      value: exchange.value,
      headers: exchange.headers.toJSON(),
    });
    options.onOrder?.(exchange);
  });
  await service.start();

  // withRequestContext: the request's Authorization / X-Correlation-Id / X-Traceability-Id travel on to every
  // record produced while handling it, with no header passed by hand; service.httpContext adds the request's span.
  const server = createServer(withRequestContext((request, response) => {
    handleRequest(service, request).then(
      ({ status, body }) => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(body));
      },
      (error: unknown) => {
        const status = error instanceof LightError ? error.status : { statusCode: 500, code: 'ERR10010', message: 'HANDLER_FAILED', description: String(error) };
        response.writeHead(status.statusCode, { 'content-type': 'application/json' });
        response.end(JSON.stringify(status));
      },
    );
  }, service.httpContext));
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  service.onStop(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { service, server, port, stop: () => service.stop() };
}

async function handleRequest(service: LightService, request: IncomingMessage): Promise<{ status: number; body: unknown }> {
  if (request.method !== 'POST' || request.url !== '/orders') return { status: 404, body: { error: 'POST /orders only' } };
  let order: { id?: string };
  try {
    order = JSON.parse(await readBody(request)) as { id?: string };
  } catch {
    return { status: 400, body: { error: 'the body must be JSON' } };
  }
  const metadata = await service.producer.send(ORDERS_TOPIC, { key: order.id ?? null, value: order });
  return { status: 202, body: { accepted: true, ...metadata } };
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

// Run as a long-lived service: node dist/samples/demo/order-service.js [port]
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const port = Number(process.argv[2] ?? 8080);
  startOrderService({ port })
    .then(({ service, port: bound }) => {
      service.installSignalHandlers();
      service.logger.info('order service listening', { url: `http://127.0.0.1:${bound}/orders` });
    })
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}
