import { setTimeout as sleep } from 'node:timers/promises';
import { queryTrace, type TraceSpan } from '../../scripts/skywalking-query.js';
import type { DemoSpan } from './trace-collector.js';
import { writeWaterfall } from './waterfall.js';

/**
 * The demo under DEMO_SKYWALKING=1: what the SkyWalking OAP answers for a trace, printed as the path of the request
 * (each span with its service instance, type, component and endpoint; an entry span names the span of the other
 * service it came from) and drawn as a waterfall.
 */

/** The trace's spans once the OAP stopped adding to them (segments arrive with each service's flush). */
async function settledTrace(graphqlUrl: string, traceId: string, timeoutMs = 20_000): Promise<TraceSpan[]> {
  const deadline = Date.now() + timeoutMs;
  let spans: TraceSpan[] = [];
  let stableSince = Date.now();
  while (Date.now() < deadline) {
    const current = await queryTrace(graphqlUrl, traceId).catch(() => spans);
    if (current.length !== spans.length) {
      spans = current;
      stableSince = Date.now();
    } else if (spans.length > 0 && Date.now() - stableSince >= 1500) {
      break;
    }
    await sleep(250);
  }
  return spans;
}

const spanKey = (segmentId: string, spanId: number): string => `${segmentId}.${spanId}`;

/** Prints the trace as the OAP holds it and writes its waterfall to `file`; returns how many spans it had. */
export async function showSkyWalkingTrace(say: (line?: string) => void, graphqlUrl: string, traceId: string, title: string, file: string): Promise<number> {
  const spans = (await settledTrace(graphqlUrl, traceId)).sort((a, b) => a.startTime - b.startTime || a.spanId - b.spanId);
  say();
  if (spans.length === 0) {
    say(`the SkyWalking OAP has no spans for trace ${traceId}`);
    return 0;
  }
  const byKey = new Map(spans.map((span) => [spanKey(span.segmentId, span.spanId), span]));
  const segments = new Set(spans.map((span) => span.segmentId)).size;
  const services = [...new Set(spans.map((span) => span.serviceCode))].join(', ');
  say(`${title}: trace ${traceId} as the SkyWalking OAP answers it (queryTrace): ${spans.length} spans in ${segments} segments of ${services}`);
  const start = spans[0]!.startTime;
  for (const span of spans) {
    const from = span.refs
      .map((ref) => ({ ref, parent: byKey.get(spanKey(ref.parentSegmentId, ref.parentSpanId)) }))
      .filter(({ parent }) => parent !== undefined)
      .map(({ ref, parent }) => `  <- ${parent!.serviceInstanceName} ${parent!.endpointName ?? ''} (${ref.type})`)
      .join('');
    const line = `+${String(span.startTime - start).padStart(4)} ms ${span.serviceInstanceName.padEnd(12)} ${span.type.padEnd(5)} ${(span.component ?? '').padEnd(14)} ${span.endpointName ?? ''}`;
    say(`  ${line}${from}`);
  }
  writeWaterfall(spans.map((span) => toDemoSpan(span, byKey)), file, `${title} as SkyWalking shows it (trace ${traceId})`);
  say(`waterfall of the SkyWalking trace written to ${file}`);
  return spans.length;
}

/** A span for the waterfall: parent in its segment, else the span its segment's reference names. */
function toDemoSpan(span: TraceSpan, byKey: Map<string, TraceSpan>): DemoSpan {
  const ref = span.refs[0];
  const parent = span.parentSpanId >= 0 ? spanKey(span.segmentId, span.parentSpanId) : ref && byKey.has(spanKey(ref.parentSegmentId, ref.parentSpanId)) ? spanKey(ref.parentSegmentId, ref.parentSpanId) : undefined;
  return {
    service: span.serviceInstanceName,
    name: shortened(`${span.type} ${span.endpointName ?? ''}`, 60),
    traceId: span.traceId,
    spanId: spanKey(span.segmentId, span.spanId),
    parentSpanId: parent,
    startMs: span.startTime,
    endMs: Math.max(span.endTime, span.startTime),
    attributes: Object.fromEntries(span.tags.map(({ key, value }) => [key, value ?? ''])),
    links: [],
  };
}

function shortened(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length - 1)}…`;
}
