import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean>;
}

export interface HealthServerOptions {
  /** Served at /metrics. */
  registry: Registry;
  host: string;
  port: number;
  /** How long /health/readiness waits for the broker's answer. */
  brokerCheckTimeoutMs: number;
}

/** What a handler may do with the service's health part: ask for the /metrics and health server. */
export interface HealthExposure {
  serve(options: HealthServerOptions): void;
}

/** The service's health: readiness checks and, when a handler asked for it, the HTTP server that shows them. */
export class Health implements HealthExposure {
  private options: HealthServerOptions | undefined;
  private server: Server | undefined;

  constructor(private readonly probe: (brokerCheckTimeoutMs: number) => Promise<Readiness>) {}

  serve(options: HealthServerOptions): void {
    this.options = options;
  }

  readiness(): Promise<Readiness> {
    return this.probe(this.options?.brokerCheckTimeoutMs ?? 2000);
  }

  /** The server's port once it listens. */
  get port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  get url(): string | undefined {
    return this.options && this.port !== undefined ? `http://${this.options.host}:${this.port}` : undefined;
  }

  async start(): Promise<void> {
    if (!this.options || this.server) return;
    this.server = await startHealthServer(this.options.registry, () => this.readiness(), this.options.host, this.options.port);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** `/metrics` (Prometheus text), `/health/liveness` and `/health/readiness` (200 or 503 with the checks). */
async function startHealthServer(registry: Registry, readiness: () => Promise<Readiness>, host: string, port: number): Promise<Server> {
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
      readiness().then(
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
