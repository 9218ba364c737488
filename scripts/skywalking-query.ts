/**
 * Reading traces back from a SkyWalking OAP over its GraphQL API (10.1 query protocol): the tests and the demo
 * (`DEMO_SKYWALKING=1 npm run demo`) use it.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** A span as the OAP's GraphQL `queryTrace` returns it (SkyWalking 10.1 query protocol). */
export interface TraceSpan {
  traceId: string;
  segmentId: string;
  /** Unique within its segment; the first span of a segment is 0. */
  spanId: number;
  /** -1 for a segment's first span. */
  parentSpanId: number;
  /** The segment's references to its parents in other segments (set on the segment's first span). */
  refs: SpanRef[];
  serviceCode: string;
  serviceInstanceName: string;
  /** Epoch milliseconds. */
  startTime: number;
  endTime: number;
  /** The operation name. */
  endpointName: string | null;
  /** 'Entry' | 'Exit' | 'Local'. */
  type: string;
  peer: string | null;
  /** The component's name from component-libraries.yml (e.g. 'kafka-producer'), 'Unknown' for an unknown id. */
  component: string | null;
  isError: boolean | null;
  /** 'Database' | 'RPCFramework' | 'Http' | 'MQ' | 'Cache' | 'FAAS' | 'Unknown'. */
  layer: string | null;
  tags: Array<{ key: string; value: string | null }>;
  logs: Array<{ time: number; data: Array<{ key: string; value: string | null }> | null }>;
}

export interface SpanRef {
  traceId: string;
  parentSegmentId: string;
  parentSpanId: number;
  type: 'CROSS_PROCESS' | 'CROSS_THREAD';
}

export interface OapService {
  id: string;
  name: string;
  shortName: string;
  group: string;
  layers: string[];
  normal: boolean | null;
}

const TRACE_QUERY = `query queryTrace($traceId: ID!) {
  trace: queryTrace(traceId: $traceId) {
    spans {
      traceId segmentId spanId parentSpanId
      refs { traceId parentSegmentId parentSpanId type }
      serviceCode serviceInstanceName startTime endTime endpointName type peer component isError layer
      tags { key value }
      logs { time data { key value } }
    }
  }
}`;

const SERVICES_QUERY = `query listServices($layer: String) {
  services: listServices(layer: $layer) { id name shortName group layers normal }
}`;

/** One GraphQL request; a transport error, an HTTP error or a GraphQL `errors` answer rejects with what came back. */
export async function graphql<T>(graphqlUrl: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch(graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`GraphQL at ${graphqlUrl} answered HTTP ${response.status}: ${text.slice(0, 2000)}`);
  const body = JSON.parse(text) as { data?: T; errors?: unknown[] };
  if (body.errors?.length || body.data === undefined) throw new Error(`GraphQL at ${graphqlUrl} answered errors: ${text.slice(0, 2000)}`);
  return body.data;
}

/** The spans the OAP holds for a trace (none yet: an empty list). */
export async function queryTrace(graphqlUrl: string, traceId: string): Promise<TraceSpan[]> {
  const data = await graphql<{ trace: { spans: TraceSpan[] } | null }>(graphqlUrl, TRACE_QUERY, { traceId });
  return data.trace?.spans ?? [];
}

/**
 * Polls queryTrace until `predicate` holds for the spans (the OAP persists a segment about a second after it
 * arrived) and returns them; on timeout, rejects with what the OAP last answered.
 */
export async function waitForTrace(
  graphqlUrl: string,
  traceId: string,
  predicate: (spans: TraceSpan[]) => boolean = (spans) => spans.length > 0,
  timeoutMs = 15_000,
): Promise<TraceSpan[]> {
  const deadline = Date.now() + timeoutMs;
  let last = 'nothing yet';
  for (;;) {
    try {
      const spans = await queryTrace(graphqlUrl, traceId);
      if (predicate(spans)) return spans;
      last = `${spans.length} span(s): ${JSON.stringify(spans, null, 1)}`;
    } catch (error) {
      last = `an error: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (Date.now() >= deadline) {
      throw new Error(`trace ${traceId} did not match within ${timeoutMs} ms at ${graphqlUrl}; the OAP last answered ${last.slice(0, 8000)}`);
    }
    await sleep(200);
  }
}

/** The services the OAP knows (every layer, or one: 'GENERAL' for agents' services). */
export async function queryServices(graphqlUrl: string, layer?: string): Promise<OapService[]> {
  return (await graphql<{ services: OapService[] }>(graphqlUrl, SERVICES_QUERY, { layer: layer ?? null })).services;
}

/**
 * Polls queryServices until every name in `names` is listed and returns the services; on timeout, rejects with the
 * names the OAP last listed. (The OAP lists a service once its traffic is persisted, about a second after the first
 * segment, and answers listServices from a cache that scripts/skywalking/config refreshes every second.)
 */
export async function waitForServices(graphqlUrl: string, names: string[], timeoutMs = 15_000): Promise<OapService[]> {
  const deadline = Date.now() + timeoutMs;
  let last = 'nothing yet';
  for (;;) {
    try {
      const services = await queryServices(graphqlUrl);
      if (names.every((name) => services.some((service) => service.name === name))) return services;
      last = JSON.stringify(services.map((service) => service.name));
    } catch (error) {
      last = `an error: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (Date.now() >= deadline) throw new Error(`the OAP at ${graphqlUrl} did not list ${JSON.stringify(names)} within ${timeoutMs} ms; it last listed ${last.slice(0, 4000)}`);
    await sleep(250);
  }
}
