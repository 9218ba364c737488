import { expect } from 'chai';
import { followsFrom, FORMAT_TEXT_MAP, Tags } from 'opentracing';
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import { buildChains } from '../../core/chain/chain-builder.js';
import { compose } from '../../core/chain/compose.js';
import type { HandlerServices } from '../../core/chain/handler.js';
import { ConfigLoader } from '../../core/config/loader.js';
import { Exchange } from '../../core/exchange.js';
import { PROPAGATED_HEADERS, RecordHeaders } from '../../core/headers.js';
import { HttpInterceptors } from '../../core/http/http-interceptors.js';
import { createPropagatingFetch } from '../../core/http/propagating-fetch.js';
import { withRequestContext } from '../../core/http/server-context.js';
import { RecordContext, runWithContext } from '../../core/request-context.js';
import { BUILTIN_CATALOG } from '../../handlers/index.js';
import { DEFAULT_TAG_NAMES } from '../../handlers/tracing/config.js';
import type { FinishedSegment } from '../../handlers/tracing/skywalking/segments.js';
import { formatSw8, parseSw8, type Sw8Context } from '../../handlers/tracing/skywalking/sw8.js';
import { SkyWalkingTracer } from '../../handlers/tracing/skywalking/tracer.js';
import { SegmentReporter } from '../../handlers/tracing/skywalking/reporter.js';
import { createLogger } from '../../core/logger.js';
import { configDir } from '../support/config-dir.js';
import { close, listen, startRecorder } from '../support/http.js';
import { testServices } from '../support/services.js';
import { SkyWalkingCollectorStub, type SkyWalkingSegment } from '../support/trace-collectors.js';

const require = createRequire(import.meta.url);

const SAMPLE: Sw8Context = {
  sampled: true,
  traceId: '59e75615104146e39da19dcaacec0935',
  parentSegmentId: '7a7523d6c92a43fdbed4c72c16921d58',
  parentSpanId: 0,
  parentService: 'lk-demo',
  parentInstance: 'inst-1',
  parentEndpoint: 'Kafka/orders/Producer',
  peer: 'localhost:9092',
};
/** What skywalking-backend-js's own carrier writes for SAMPLE. */
function agentHeader(context: Sw8Context): string {
  const { ContextCarrier } = require('skywalking-backend-js/lib/trace/context/ContextCarrier.js');
  const ID = require('skywalking-backend-js/lib/trace/ID.js').default;
  const { traceId, parentSegmentId, parentSpanId, parentService, parentInstance, parentEndpoint, peer } = context;
  return new ContextCarrier(new ID(traceId), new ID(parentSegmentId), parentSpanId, parentService, parentInstance, parentEndpoint, peer).value;
}
const AGENT_HEADER = agentHeader(SAMPLE);

describe('sw8 header', () => {
  it('reads and writes what the SkyWalking agents write', () => {
    expect(AGENT_HEADER).to.match(/^1-NTllNzU2MTUxMDQxNDZlMzlkYTE5ZGNhYWNlYzA5MzU=-/);
    expect(parseSw8(AGENT_HEADER)).to.deep.equal(SAMPLE);
    expect(formatSw8(SAMPLE)).to.equal(AGENT_HEADER);
    // The agent's own carrier reads ours.
    const { ContextCarrier } = require('skywalking-backend-js/lib/trace/context/ContextCarrier.js');
    const carrier = ContextCarrier.from({ sw8: formatSw8({ ...SAMPLE, parentSpanId: 3 }) });
    expect(carrier.isValid()).to.equal(true);
    expect([carrier.traceId.toString(), carrier.segmentId.toString(), carrier.spanId, carrier.service, carrier.endpoint]).to.deep.equal([SAMPLE.traceId, SAMPLE.parentSegmentId, 3, 'lk-demo', 'Kafka/orders/Producer']);
  });

  it('keeps the not-sampled flag and refuses malformed values', () => {
    expect(parseSw8(formatSw8({ ...SAMPLE, sampled: false }))?.sampled).to.equal(false);
    const parts = AGENT_HEADER.split('-');
    const variant = (index: number, value: string): string => parts.map((part, i) => (i === index ? value : part)).join('-');
    for (const bad of [
      '',
      'garbage',
      parts.slice(0, 7).join('-'),
      `${AGENT_HEADER}-eA==`,
      variant(0, '2'),
      variant(1, ''),
      variant(1, 'not base64!'),
      variant(2, ''),
      variant(3, 'x'),
      variant(3, '-1'),
      variant(4, ''),
      variant(6, ''),
    ]) {
      expect(parseSw8(bad), bad).to.equal(undefined);
    }
  });
});

const HANDLER_YML = `handlers: [correlation, tracing, kafka/producer@producer]
defaultHandlers:
  produce: [correlation, tracing, producer]
  consume: [correlation, tracing]
`;

interface TracedService {
  services: HandlerServices;
  /** `headers`: what the record is sent with (a forwarded record's headers, say). */
  produce(topic: string, value: unknown, headers?: RecordHeaders): Promise<RecordHeaders>;
  consume(topic: string, headers: RecordHeaders, work: () => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

/** One service's chains with the tracing handler on SkyWalking, reporting to `collector`; no Kafka. */
async function tracedService(serviceId: string, collector: string, tracingExtra = ''): Promise<TracedService> {
  const dir = configDir({
    'handler.yml': HANDLER_YML,
    'tracing.yml': `tracer: skywalking\nreporter:\n  flushIntervalMs: 50\nskywalking:\n  collectorAddress: ${collector}\n  serviceInstance: ${serviceId}-1\n${tracingExtra}`,
  });
  const loader = new ConfigLoader({ configDir: dir, env: {} });
  const hooks: Array<() => Promise<void> | void> = [];
  const http = new HttpInterceptors();
  const services = testServices(loader, {
    serviceId,
    http,
    brokers: ['broker-1:9092'],
    fetch: createPropagatingFetch({ callerId: serviceId, interceptors: http }),
    addCloseHook: (hook) => void hooks.push(hook),
  });
  const { table } = await buildChains(loader, services, BUILTIN_CATALOG);
  return {
    services,
    async produce(topic, value, headers = new RecordHeaders()) {
      const exchange = new Exchange({ direction: 'produce', topic, key: 'k1', value, headers });
      // Everything before the transport (the last handler): no Kafka here.
      await compose(table.resolve('produce', topic)!.handlers.slice(0, -1))(exchange, async () => undefined);
      return exchange.headers;
    },
    async consume(topic, headers, work) {
      const exchange = new Exchange({ direction: 'consume', topic, partition: 0, offset: '5', headers, consumerGroup: `${serviceId}-group` });
      await runWithContext(new RecordContext(headers, PROPAGATED_HEADERS), () => compose(table.resolve('consume', topic)!.handlers)(exchange, work));
    },
    async close() {
      for (const hook of hooks) await hook();
    },
  };
}

type Span = SkyWalkingSegment['spansList'][number] & { segment: SkyWalkingSegment };
const tag = (span: Span, key: string): string | undefined => span.tagsList.find((entry) => entry.key === key)?.value;
const ENTRY = 0;
const EXIT = 1;

describe('tracing handler on SkyWalking (gRPC collector stub)', function () {
  this.timeout(20_000);
  let collector: SkyWalkingCollectorStub;
  beforeEach(async () => (collector = await SkyWalkingCollectorStub.start()));
  afterEach(() => collector.stop());

  it('HTTP -> A produces -> B consumes, calls HTTP and produces: one trace, entry and exit spans, CROSS_PROCESS references, sw8 on every hop', async () => {
    const a = await tracedService('svc-a', collector.address);
    const b = await tracedService('svc-b', collector.address);
    const downstream = await startRecorder();
    let recordFromA: RecordHeaders | undefined;
    const server = createServer(
      withRequestContext(
        (_request, response) => {
          a.produce('orders', { n: 1 }).then((headers) => {
            recordFromA = headers;
            response.end('ok');
          });
        },
        { headers: PROPAGATED_HEADERS, interceptors: a.services.http, route: () => '/orders' },
      ),
    );
    const url = await listen(server);
    let recordFromB: RecordHeaders | undefined;
    try {
      expect((await fetch(`${url}/orders?x=1`, { method: 'POST', headers: { 'X-Correlation-Id': 'corr-1' } })).status).to.equal(200);
      await b.consume('orders', recordFromA!, async () => {
        await b.services.fetch(`${downstream.url}/prices/7`);
        recordFromB = await b.produce('shipments', { n: 2 });
      });
    } finally {
      await close(server);
      await downstream.stop();
      await a.close();
      await b.close();
    }

    expect(collector.segments.map((segment) => segment.service).sort()).to.deep.equal(['svc-a', 'svc-b']);
    const spans = collector.spans();
    expect(new Set(spans.map((span) => span.segment.traceid)).size, 'one trace').to.equal(1);
    const find = (service: string, operation: string): Span => {
      const span = spans.find((candidate) => candidate.segment.service === service && candidate.operationname === operation);
      expect(span, `${service} ${operation} in ${spans.map((s) => `${s.segment.service}:${s.operationname}`).join(', ')}`).to.not.equal(undefined);
      return span!;
    };
    const aHttp = find('svc-a', 'POST /orders');
    const aSend = find('svc-a', 'Kafka/orders/Producer');
    const bProcess = find('svc-b', 'Kafka/orders/Consumer/svc-b-group');
    const bCall = find('svc-b', 'GET');
    const bSend = find('svc-b', 'Kafka/shipments/Producer');

    expect([aHttp.spantype, aHttp.componentid, aHttp.spanlayer, aHttp.parentspanid]).to.deep.equal([ENTRY, 49, 3, -1]);
    expect([tag(aHttp, 'http.url'), tag(aHttp, 'http.route')]).to.deep.equal(['/orders', '/orders']);
    expect(tag(aHttp, 'http.status_code')).to.equal('200');
    expect(tag(aHttp, 'correlation_id')).to.equal('corr-1');
    expect([aSend.spantype, aSend.componentid, aSend.spanlayer, aSend.peer, aSend.parentspanid]).to.deep.equal([EXIT, 40, 4, 'broker-1:9092', aHttp.spanid]);
    expect(aSend.segment.tracesegmentid).to.equal(aHttp.segment.tracesegmentid);
    expect([tag(aSend, 'mq.topic'), tag(aSend, 'mq.broker'), tag(aSend, 'correlation_id')]).to.deep.equal(['orders', 'broker-1:9092', 'corr-1']);

    // The record A sent carries A's exit span; B's entry span refers to it.
    expect(parseSw8(recordFromA!.get('sw8'))).to.deep.include({ parentSegmentId: aSend.segment.tracesegmentid, parentSpanId: aSend.spanid, parentService: 'svc-a', parentInstance: 'svc-a-1', parentEndpoint: 'POST /orders', peer: 'broker-1:9092' });
    expect([bProcess.spantype, bProcess.componentid, bProcess.spanlayer, bProcess.parentspanid]).to.deep.equal([ENTRY, 41, 4, -1]);
    expect(bProcess.refsList).to.have.length(1);
    expect(bProcess.refsList[0]).to.deep.include({ reftype: 0, parenttracesegmentid: aSend.segment.tracesegmentid, parentspanid: aSend.spanid, parentservice: 'svc-a', parentendpoint: 'POST /orders' });
    expect(tag(bProcess, 'correlation_id')).to.equal('corr-1');

    // B's HTTP call and record are children of its entry span and carry sw8 naming them.
    expect([bCall.spantype, bCall.componentid, bCall.parentspanid, bCall.peer]).to.deep.equal([EXIT, 2, bProcess.spanid, new URL(downstream.url).host]);
    expect(tag(bCall, 'http.url')).to.equal(`${downstream.url}/prices/7`);
    expect(parseSw8(String(downstream.seen[0]!.sw8))).to.deep.include({ parentSegmentId: bProcess.segment.tracesegmentid, parentSpanId: bCall.spanid, parentEndpoint: 'Kafka/orders/Consumer/svc-b-group' });
    expect([bSend.spantype, bSend.parentspanid]).to.deep.equal([EXIT, bProcess.spanid]);
    expect(parseSw8(recordFromB!.get('sw8'))).to.deep.include({ parentSpanId: bSend.spanid, parentService: 'svc-b' });
  });

  it('a malformed sw8 starts a new trace; a record whose trace was not sampled reports nothing and passes the decision on', async () => {
    const b = await tracedService('svc-b', collector.address);
    let forwarded: RecordHeaders | undefined;
    try {
      await b.consume('orders', RecordHeaders.from({ sw8: '1-garbage' }), async () => undefined);
      const unsampled = RecordHeaders.from({ sw8: formatSw8({ ...SAMPLE, sampled: false }) });
      await b.consume('orders', unsampled, async () => void (forwarded = await b.produce('shipments', {})));
    } finally {
      await b.close();
    }
    expect(collector.segments).to.have.length(1);
    const [span] = collector.spans();
    expect(span!.refsList).to.deep.equal([]);
    expect(span!.segment.traceid).to.match(/^[0-9a-f]{32}$/);
    expect(parseSw8(forwarded!.get('sw8'))).to.deep.include({ sampled: false, traceId: SAMPLE.traceId, parentService: 'svc-b' });
  });

  it('sampler const 0 reports nothing and sends sw8 with the not-sampled flag', async () => {
    const b = await tracedService('svc-b', collector.address, 'sampler:\n  type: const\n  param: 0\n');
    let forwarded: RecordHeaders | undefined;
    try {
      await b.consume('orders', new RecordHeaders(), async () => void (forwarded = await b.produce('shipments', {})));
    } finally {
      await b.close();
    }
    expect(collector.segments).to.deep.equal([]);
    expect(parseSw8(forwarded!.get('sw8'))?.sampled).to.equal(false);
  });

  it('a record that carries uber-trace-id and traceparent besides sw8: what the service sends and calls carries sw8 only, continuing it', async () => {
    const b = await tracedService('svc-b', collector.address);
    const downstream = await startRecorder();
    const incoming = RecordHeaders.from({ sw8: AGENT_HEADER, 'uber-trace-id': 'aaaaaaaaaaaaaaaa:bbbbbbbbbbbbbbbb:0:1', traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` });
    let forwarded: RecordHeaders | undefined;
    try {
      await b.consume('orders', incoming, async () => {
        await b.services.fetch(downstream.url);
        // The forwarding pattern: the consumed record's headers go out again with the new record.
        forwarded = await b.produce('shipments', {}, incoming.clone());
      });
    } finally {
      await downstream.stop();
      await b.close();
    }
    const traceHeaders = (names: string[]): string[] => names.filter((name) => ['sw8', 'uber-trace-id', 'traceparent', 'tracestate'].includes(name));
    expect(traceHeaders(forwarded!.names())).to.deep.equal(['sw8']);
    expect(traceHeaders(Object.keys(downstream.seen[0]!))).to.deep.equal(['sw8']);
    for (const sw8 of [forwarded!.get('sw8'), String(downstream.seen[0]!.sw8)]) expect(parseSw8(sw8)).to.deep.include({ traceId: SAMPLE.traceId, parentService: 'svc-b' });
  });

  it('a call made where no span is active (no tracing in the chain, an adapter without httpContext) continues the caller\'s trace', async () => {
    const b = await tracedService('svc-b', collector.address);
    const downstream = await startRecorder();
    // Served with the headers only: no server span, the request context holds the caller's sw8.
    const server = createServer(withRequestContext((_request, response) => void b.services.fetch(downstream.url).then(() => response.end('ok')), { headers: PROPAGATED_HEADERS }));
    const url = await listen(server);
    try {
      expect((await fetch(url, { headers: { sw8: AGENT_HEADER } })).status).to.equal(200);
    } finally {
      await close(server);
      await downstream.stop();
      await b.close();
    }
    const [call] = collector.spans();
    expect([call!.spantype, call!.operationname]).to.deep.equal([EXIT, 'GET']);
    expect(call!.segment.traceid).to.equal(SAMPLE.traceId);
    expect(call!.refsList[0]).to.deep.include({ parenttracesegmentid: SAMPLE.parentSegmentId, parentspanid: SAMPLE.parentSpanId });
    expect(parseSw8(String(downstream.seen[0]!.sw8))).to.deep.include({ traceId: SAMPLE.traceId, parentSegmentId: call!.segment.tracesegmentid, parentSpanId: call!.spanid });
  });

  it('a request whose response closes before it finished, and a call that fails: both spans are errors, finished once', async () => {
    const b = await tracedService('svc-b', collector.address);
    const server = createServer(
      withRequestContext(
        (_request, response) => {
          // A call to a port nothing listens on, then the connection is dropped without a response.
          b.services.fetch('http://127.0.0.1:1/nothing').catch(() => response.socket?.destroy());
        },
        { headers: PROPAGATED_HEADERS, interceptors: b.services.http, route: () => '/drop' },
      ),
    );
    const url = await listen(server);
    try {
      expect(await fetch(url).then(() => 'answered', () => 'dropped')).to.equal('dropped');
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      await close(server);
      await b.close();
    }
    const spans = collector.spans();
    expect(spans.map((span) => span.operationname).sort()).to.deep.equal(['GET', 'GET /drop']);
    for (const span of spans) expect(span.iserror, span.operationname).to.equal(true);
    const served = spans.find((span) => span.operationname === 'GET /drop')!;
    expect(tag(served, 'http.status_code'), 'no status: no response was sent').to.equal(undefined);
    const call = spans.find((span) => span.operationname === 'GET')!;
    expect(call.parentspanid).to.equal(served.spanid);
    expect(call.logsList[0]!.dataList.map(({ key }) => key)).to.include('message');
  });

  it('a transactional batch: the producer spans of its records are children of one Local transaction span, in one segment', async () => {
    const a = await tracedService('svc-a', collector.address);
    try {
      await a.services.transactions.wrap({ transactionalId: 'tx-1' }, async () => {
        await a.produce('orders', { n: 1 });
        await a.produce('orders', { n: 2 });
      });
    } finally {
      await a.close();
    }
    expect(collector.segments).to.have.length(1);
    const [transaction, ...sends] = collector.spans().sort((x, y) => x.spanid - y.spanid);
    expect([transaction!.operationname, transaction!.spantype, transaction!.parentspanid]).to.deep.equal(['transaction tx-1', 2, -1]);
    expect(sends.map((span) => [span.operationname, span.spantype, span.parentspanid])).to.deep.equal([
      ['Kafka/orders/Producer', EXIT, transaction!.spanid],
      ['Kafka/orders/Producer', EXIT, transaction!.spanid],
    ]);
  });

  it('a span that follows several producers (a batch span) refers to each of their segments', async () => {
    const reported: FinishedSegment[] = [];
    const tracer = new SkyWalkingTracer({ service: 'svc', serviceInstance: 'i', sampler: { type: 'const', param: 1 }, tagNames: DEFAULT_TAG_NAMES, report: (segment) => reported.push(segment) });
    const producers = [SAMPLE, { ...SAMPLE, parentSegmentId: 'other-segment', parentSpanId: 4 }].map((context) => tracer.extract(FORMAT_TEXT_MAP, { sw8: formatSw8(context) })!);
    const span = tracer.startSpan('orders process', { references: producers.map((context) => followsFrom(context)) });
    span.addTags({ [Tags.SPAN_KIND]: Tags.SPAN_KIND_MESSAGING_CONSUMER, 'messaging.system': 'kafka', 'messaging.destination.name': 'orders' });
    span.finish();
    const [finished] = reported[0]!.spans;
    expect(finished!.spanType).to.equal('Entry');
    expect(finished!.refs.map((ref) => [ref.type, ref.parentSegmentId, ref.parentSpanId])).to.deep.equal([
      ['CrossProcess', SAMPLE.parentSegmentId, 0],
      ['CrossProcess', 'other-segment', 4],
    ]);
    expect(reported[0]!.traceId).to.equal(SAMPLE.traceId);
  });

  it('the reporter keeps segments while the collector is away, bounded, and gives up at stop after its deadline', async () => {
    const warnings: string[] = [];
    const logger = createLogger({ level: 'silent' });
    logger.warn = (message: string) => void warnings.push(message);
    const reporter = new SegmentReporter({ collectorAddress: '127.0.0.1:1', authentication: '', flushIntervalMs: 20, maxBufferSize: 2, logger });
    for (const id of ['s1', 's2', 's3']) reporter.add({ traceId: 't', segmentId: id, service: 'svc', serviceInstance: 'i', spans: [], sizeLimited: false });
    // Resolves (within the test's timeout) although nothing answers.
    await reporter.close(300);
    expect(warnings.some((message) => message.includes('dropped'))).to.equal(true);
    expect(warnings.some((message) => message.includes('not sent at stop'))).to.equal(true);
  });
});

describe('SkyWalking tracer', () => {
  const tracerWith = (options: Partial<ConstructorParameters<typeof SkyWalkingTracer>[0]> = {}): { tracer: SkyWalkingTracer; reported: FinishedSegment[] } => {
    const reported: FinishedSegment[] = [];
    const tracer = new SkyWalkingTracer({ service: 'svc', serviceInstance: 'i', sampler: { type: 'const', param: 1 }, tagNames: DEFAULT_TAG_NAMES, report: (segment) => reported.push(segment), ...options });
    return { tracer, reported };
  };

  it('a span started after its parent\'s segment was reported opens a segment that refers to it CROSS_THREAD', () => {
    const { tracer, reported } = tracerWith();
    const parent = tracer.startSpan('unit of work');
    parent.finish();
    const late = tracer.startSpan('late work', { childOf: parent });
    late.finish();
    expect(reported).to.have.length(2);
    const [first, second] = reported as [FinishedSegment, FinishedSegment];
    expect(second.traceId).to.equal(first.traceId);
    expect(second.segmentId).to.not.equal(first.segmentId);
    expect(second.spans[0]!.refs.map((ref) => [ref.type, ref.parentSegmentId, ref.parentSpanId])).to.deep.equal([['CrossThread', first.segmentId, 0]]);
  });

  it('records the first spanLimitPerSegment spans of a long unit of work, its entry span included, and says the segment is size-limited', () => {
    const { tracer, reported } = tracerWith({ spanLimitPerSegment: 5 });
    const entry = tracer.startSpan('POST /stream');
    entry.addTags({ [Tags.SPAN_KIND]: Tags.SPAN_KIND_RPC_SERVER });
    for (let n = 0; n < 20; n++) tracer.startSpan(`child ${n}`, { childOf: entry }).finish();
    entry.finish();
    const [segment] = reported;
    expect(segment!.spans.map((span) => span.spanId).sort((a, b) => a - b)).to.deep.equal([0, 1, 2, 3, 4]);
    expect(segment!.spans.find((span) => span.spanId === 0)!.spanType).to.equal('Entry');
    expect(segment!.sizeLimited).to.equal(true);
    // A span beyond the limit still carries the trace on.
    const beyond = tracer.startSpan('beyond', { childOf: tracer.startSpan('root') });
    const carrier: Record<string, string> = {};
    tracer.inject(beyond.context(), FORMAT_TEXT_MAP, carrier);
    expect(parseSw8(carrier.sw8)?.parentSpanId).to.equal(1);
  });

  it('ratelimiting samples at most param traces that start here per second; a trace that comes in keeps its decision', () => {
    let now = 1_000_000;
    const { tracer, reported } = tracerWith({ sampler: { type: 'ratelimiting', param: 2 }, now: () => now });
    for (let n = 0; n < 5; n++) tracer.startSpan(`root ${n}`).finish();
    expect(reported).to.have.length(2);
    now += 1000;
    tracer.startSpan('next second').finish();
    expect(reported).to.have.length(3);
    const incoming = tracer.extract(FORMAT_TEXT_MAP, { sw8: AGENT_HEADER })!;
    tracer.startSpan('continued', { childOf: incoming }).finish();
    expect(reported, 'over the limit, but sampled upstream').to.have.length(4);
  });
});
