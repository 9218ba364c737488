import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import type { Tracer } from 'opentracing';
import { LightError } from '../../core/errors/light-error.js';
import type { Logger } from '../../core/logger.js';
import type { TracingYml } from './config.js';

export interface ManagedTracer {
  tracer: Tracer;
  /** Flushes what is buffered and releases the tracer. */
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);

/** The tracer tracing.yml asks for: jaeger-client (default), the OpenTelemetry SDK behind the OpenTracing shim, SkyWalking, or one passed in. */
export async function createTracer(config: TracingYml, serviceName: string, logger: Logger, provided: unknown, file: string): Promise<ManagedTracer> {
  if (config.tracer === 'provided') {
    if (!provided || typeof (provided as Tracer).startSpan !== 'function') {
      throw new LightError('ERR13001', { file, key: 'tracer', reason: 'is provided, but LightService.create({ services: { tracer } }) passed no OpenTracing tracer' });
    }
    return { tracer: provided as Tracer, close: async () => undefined };
  }
  if (config.tracer === 'opentelemetry') return createOpenTelemetryTracer(config, serviceName);
  if (config.tracer === 'skywalking') return createSkyWalkingTracer(config, serviceName, logger);
  return createJaegerTracer(config, serviceName, logger);
}

function createJaegerTracer(config: TracingYml, serviceName: string, logger: Logger): ManagedTracer {
  const { initTracer } = require('jaeger-client') as typeof import('jaeger-client');
  const { reporter, sampler } = config;
  const jaegerLogger = { info: (message: string) => logger.debug(message, { component: 'jaeger' }), error: (message: string) => logger.warn(message, { component: 'jaeger' }) };
  const tracer = initTracer(
    {
      serviceName,
      sampler: { type: sampler.type, param: sampler.param },
      reporter: {
        flushIntervalMs: reporter.flushIntervalMs,
        logSpans: reporter.logSpans,
        ...(reporter.collectorEndpoint ? { collectorEndpoint: reporter.collectorEndpoint } : { agentHost: reporter.agentHost, agentPort: reporter.agentPort }),
      },
    },
    { logger: jaegerLogger, tags: config.tags },
  );
  return {
    tracer: tracer as unknown as Tracer,
    close: () => new Promise<void>((resolve) => (tracer as unknown as { close(callback: () => void): void }).close(() => resolve())),
  };
}

async function createOpenTelemetryTracer(config: TracingYml, serviceName: string): Promise<ManagedTracer> {
  const { BasicTracerProvider, BatchSpanProcessor, AlwaysOffSampler, AlwaysOnSampler, TraceIdRatioBasedSampler, ParentBasedSampler } = await import('@opentelemetry/sdk-trace-base');
  const { resourceFromAttributes } = await import('@opentelemetry/resources');
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
  const { W3CTraceContextPropagator } = await import('@opentelemetry/core');
  const { TracerShim } = await import('@opentelemetry/shim-opentracing');
  const { sampler } = config;
  const root = sampler.type === 'const' ? (sampler.param >= 1 ? new AlwaysOnSampler() : new AlwaysOffSampler()) : new TraceIdRatioBasedSampler(Math.min(sampler.param, 1));
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName, ...config.tags }),
    sampler: new ParentBasedSampler({ root }),
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ url: config.otlp.endpoint, headers: config.otlp.headers }), {
        scheduledDelayMillis: config.reporter.flushIntervalMs,
      }),
    ],
  });
  const propagator = new W3CTraceContextPropagator();
  const tracer = new TracerShim(provider.getTracer('light-kafka'), { textMapPropagator: propagator, httpHeadersPropagator: propagator });
  return {
    tracer: tracer as unknown as Tracer,
    close: async () => {
      await provider.forceFlush();
      await provider.shutdown();
    },
  };
}

async function createSkyWalkingTracer(config: TracingYml, serviceName: string, logger: Logger): Promise<ManagedTracer> {
  const { SkyWalkingTracer } = await import('./skywalking/tracer.js');
  const { SegmentReporter } = await import('./skywalking/reporter.js');
  const { collectorAddress, authentication, maxBufferSize } = config.skywalking;
  const reporter = new SegmentReporter({ collectorAddress, authentication, maxBufferSize, flushIntervalMs: config.reporter.flushIntervalMs, logger });
  const tracer = new SkyWalkingTracer({
    service: serviceName,
    serviceInstance: config.skywalking.serviceInstance || `${process.pid}@${hostname()}`,
    sampler: config.sampler,
    tagNames: config.tagNames,
    tags: config.tags,
    spanLimitPerSegment: config.skywalking.spanLimitPerSegment,
    report: (segment) => reporter.add(segment),
  });
  return { tracer, close: () => reporter.close() };
}
