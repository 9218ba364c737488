import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A span as the demo draws it. */
export interface DemoSpan {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  startMs: number;
  endMs: number;
  attributes: Record<string, string | number | boolean>;
  /** The span ids this span links to (OpenTelemetry links: a consumer span to the producer span it follows). */
  links: string[];
}

/**
 * An OpenTelemetry collector for the demo (and the tests' collector): OTLP/HTTP with JSON encoding on loopback,
 * spans kept in memory.
 */
export class DemoTraceCollector {
  readonly spans: DemoSpan[] = [];

  private constructor(private readonly server: Server) {}

  static async start(): Promise<DemoTraceCollector> {
    let collector!: DemoTraceCollector;
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        try {
          collector.collect(JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpBody);
          response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        } catch (error) {
          // Only OTLP/HTTP with JSON encoding is understood (not protobuf): refused, never a crash of the demo.
          response.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ message: `not OTLP JSON: ${(error as Error).message}` }));
        }
      });
    });
    collector = new DemoTraceCollector(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return collector;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1/traces`;
  }

  trace(traceId: string): DemoSpan[] {
    return this.spans.filter((span) => span.traceId === traceId).sort((a, b) => a.startMs - b.startMs);
  }

  private collect(body: OtlpBody): void {
    const hex = (value: string | undefined): string | undefined => (value ? (/^[0-9a-f]+$/.test(value) ? value : Buffer.from(value, 'base64').toString('hex')) : undefined);
    for (const resourceSpans of body.resourceSpans ?? []) {
      const service = resourceSpans.resource?.attributes?.find((attribute) => attribute.key === 'service.name')?.value.stringValue ?? '?';
      for (const scope of resourceSpans.scopeSpans ?? []) {
        for (const span of scope.spans ?? []) {
          const attributes: Record<string, string | number | boolean> = {};
          for (const { key, value } of span.attributes ?? []) attributes[key] = value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : (value.boolValue ?? value.doubleValue ?? ''));
          this.spans.push({
            service,
            name: span.name,
            traceId: hex(span.traceId)!,
            spanId: hex(span.spanId)!,
            parentSpanId: hex(span.parentSpanId) || undefined,
            startMs: Number(BigInt(span.startTimeUnixNano) / 1000n) / 1000,
            endMs: Number(BigInt(span.endTimeUnixNano) / 1000n) / 1000,
            attributes,
            links: (span.links ?? []).map((link) => hex(link.spanId)!),
          });
        }
      }
    }
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

interface OtlpBody {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: { stringValue?: string } }[] };
    scopeSpans?: {
      spans?: {
        name: string;
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        startTimeUnixNano: string;
        endTimeUnixNano: string;
        attributes?: { key: string; value: { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number } }[];
        links?: { spanId: string }[];
      }[];
    }[];
  }[];
}
