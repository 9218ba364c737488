import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { Registry } from 'prom-client';

export interface HealthProbe {
  /** Ready to take work: the consumer is in its group (when it consumes) and the broker answers. */
  readiness(): Promise<{ ready: boolean; checks: Record<string, boolean> }>;
}

/** `/metrics` (Prometheus text), `/health/liveness` and `/health/readiness` (200 or 503 with the checks). */
export async function startHealthServer(registry: Registry, probe: HealthProbe, host: string, port: number): Promise<Server> {
  const server = createServer((request, response) => {
    const reply = (status: number, contentType: string, body: string): void => {
      response.writeHead(status, { 'content-type': contentType });
      response.end(body);
    };
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET') return reply(405, 'text/plain', 'GET only\n');
    if (path === '/metrics') {
      registry.metrics().then((text) => reply(200, registry.contentType, text), (error: Error) => reply(500, 'text/plain', error.message));
      return;
    }
    if (path === '/health/liveness') return reply(200, 'application/json', JSON.stringify({ status: 'UP' }));
    if (path === '/health/readiness') {
      probe.readiness().then(
        ({ ready, checks }) => reply(ready ? 200 : 503, 'application/json', JSON.stringify({ status: ready ? 'UP' : 'DOWN', checks })),
        (error: Error) => reply(503, 'application/json', JSON.stringify({ status: 'DOWN', error: error.message })),
      );
      return;
    }
    reply(404, 'text/plain', 'not found\n');
  });
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}
