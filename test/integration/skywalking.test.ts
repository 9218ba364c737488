import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { credentials, Metadata } from '@grpc/grpc-js';
import CommonPb from 'skywalking-backend-js/lib/proto/common/Common_pb.js';
import TracingGrpc from 'skywalking-backend-js/lib/proto/language-agent/Tracing_grpc_pb.js';
import TracingPb from 'skywalking-backend-js/lib/proto/language-agent/Tracing_pb.js';
import { ensureSkyWalking, oapVersion } from '../../scripts/skywalking-local.js';
import type { Exchange } from '../../core/exchange.js';
import { parseSw8 } from '../../handlers/tracing/skywalking/sw8.js';
import { LightService, withRequestContext } from '../../index.js';
import { configDir, consumerYml, producerYml, serviceYml } from '../support/config-dir.js';
import { close, listen } from '../support/http.js';
import { createTopics, uniqueName, waitFor } from '../support/kafka.js';
import { useSkyWalking, waitForServices, waitForTrace, type SkyWalkingEndpoints, type TraceSpan } from '../support/skywalking.js';

const { KeyStringValuePair } = CommonPb;
const { Log, RefType, SegmentCollection, SegmentObject, SegmentReference, SpanLayer, SpanObject, SpanType } = TracingPb;

/** The segments an agent would report, sent with the agent's own generated stubs (collectInSync: one unary call). */
function report(collectorAddress: string, segments: InstanceType<typeof SegmentObject>[]): Promise<void> {
  const client = new TracingGrpc.TraceSegmentReportServiceClient(collectorAddress, credentials.createInsecure());
  return new Promise<void>((resolve, reject) => {
    client.collectInSync(new SegmentCollection().setSegmentsList(segments), new Metadata(), { deadline: Date.now() + 10_000 }, (error) => (error ? reject(error) : resolve()));
  }).finally(() => client.close());
}

const pairs = (entries: Record<string, string>): InstanceType<typeof KeyStringValuePair>[] =>
  Object.entries(entries).map(([key, value]) => new KeyStringValuePair().setKey(key).setValue(value));

const tagsOf = (span: TraceSpan): Record<string, string | null> => Object.fromEntries(span.tags.map((tag) => [tag.key, tag.value]));

describe('the local SkyWalking OAP and its GraphQL client @broker @skywalking', function () {
  this.timeout(120_000);
  let oap: SkyWalkingEndpoints;

  before(async function () {
    this.timeout(600_000); // a first run fetches the jars (1-4 minutes with an empty ~/.m2)
    oap = await useSkyWalking();
  });

  it('answers GraphQL { version } as OAP 10.1.0, and a second ensure reuses it without starting another', async () => {
    expect(await oapVersion(oap.graphqlUrl)).to.match(/^10\.1\.0\b/);
    // Without the variables that name an OAP (the suite runner sets them): found answering on the ports, and reused.
    const named = { collector: process.env.SKYWALKING_COLLECTOR, graphql: process.env.SKYWALKING_GRAPHQL_URL };
    delete process.env.SKYWALKING_COLLECTOR;
    delete process.env.SKYWALKING_GRAPHQL_URL;
    try {
      const again = await ensureSkyWalking({ log: () => undefined });
      expect(again).to.include({ collectorAddress: oap.collectorAddress, graphqlUrl: oap.graphqlUrl, owned: false });
    } finally {
      if (named.collector) process.env.SKYWALKING_COLLECTOR = named.collector;
      if (named.graphql) process.env.SKYWALKING_GRAPHQL_URL = named.graphql;
    }
  });

  it('gives back two segments of one trace reported over gRPC: spans, tags, logs and the cross-process reference', async () => {
    const run = randomUUID().slice(0, 8);
    const traceId = randomUUID().replace(/-/g, '');
    const producerSegment = randomUUID().replace(/-/g, '');
    const consumerSegment = randomUUID().replace(/-/g, '');
    const producer = `lk-oap-producer-${run}`;
    const consumer = `lk-oap-consumer-${run}`;
    const t0 = Date.now() - 1000;

    const entry = new SpanObject()
      .setSpanid(0)
      .setParentspanid(-1)
      .setStarttime(t0)
      .setEndtime(t0 + 40)
      .setOperationname('POST:/orders')
      .setSpantype(SpanType.ENTRY)
      .setSpanlayer(SpanLayer.HTTP)
      .setComponentid(49)
      .setTagsList(pairs({ 'http.method': 'POST' }));
    const exit = new SpanObject()
      .setSpanid(1)
      .setParentspanid(0)
      .setStarttime(t0 + 10)
      .setEndtime(t0 + 30)
      .setOperationname('Kafka/orders/Producer')
      .setPeer('127.0.0.1:9092')
      .setSpantype(SpanType.EXIT)
      .setSpanlayer(SpanLayer.MQ)
      .setComponentid(40)
      .setTagsList(pairs({ 'mq.topic': 'orders', 'mq.broker': '127.0.0.1:9092' }));
    const received = new SpanObject()
      .setSpanid(0)
      .setParentspanid(-1)
      .setStarttime(t0 + 50)
      .setEndtime(t0 + 90)
      .setOperationname('Kafka/orders/Consumer/orders-group')
      .setPeer('127.0.0.1:9092')
      .setSpantype(SpanType.ENTRY)
      .setSpanlayer(SpanLayer.MQ)
      .setComponentid(41)
      .setIserror(true)
      .setRefsList([
        new SegmentReference()
          .setReftype(RefType.CROSSPROCESS)
          .setTraceid(traceId)
          .setParenttracesegmentid(producerSegment)
          .setParentspanid(1)
          .setParentservice(producer)
          .setParentserviceinstance('inst-a')
          .setParentendpoint('POST:/orders')
          .setNetworkaddressusedatpeer('127.0.0.1:9092'),
      ])
      .setTagsList(pairs({ 'mq.topic': 'orders', 'mq.broker': '127.0.0.1:9092' }))
      .setLogsList([new Log().setTime(t0 + 80).setDataList(pairs({ event: 'error', message: 'refused' }))]);

    await report(oap.collectorAddress, [
      new SegmentObject().setTraceid(traceId).setTracesegmentid(producerSegment).setService(producer).setServiceinstance('inst-a').setSpansList([entry, exit]),
      new SegmentObject().setTraceid(traceId).setTracesegmentid(consumerSegment).setService(consumer).setServiceinstance('inst-b').setSpansList([received]),
    ]);

    const spans = await waitForTrace(oap.graphqlUrl, traceId, (found) => found.length === 3, 15_000);
    const bySegment = (segmentId: string, spanId: number): TraceSpan => spans.find((span) => span.segmentId === segmentId && span.spanId === spanId)!;

    const producerExit = bySegment(producerSegment, 1);
    expect(producerExit).to.include({
      traceId,
      parentSpanId: 0,
      serviceCode: producer,
      serviceInstanceName: 'inst-a',
      startTime: t0 + 10,
      endTime: t0 + 30,
      endpointName: 'Kafka/orders/Producer',
      type: 'Exit',
      peer: '127.0.0.1:9092',
      component: 'kafka-producer',
      layer: 'MQ',
      isError: false,
    });
    expect(producerExit.refs).to.deep.equal([]);
    expect(tagsOf(producerExit)).to.deep.equal({ 'mq.topic': 'orders', 'mq.broker': '127.0.0.1:9092' });
    expect(bySegment(producerSegment, 0)).to.include({ parentSpanId: -1, type: 'Entry', component: 'http', layer: 'Http', endpointName: 'POST:/orders' });

    const consumerEntry = bySegment(consumerSegment, 0);
    expect(consumerEntry).to.include({
      traceId,
      parentSpanId: -1,
      serviceCode: consumer,
      serviceInstanceName: 'inst-b',
      endpointName: 'Kafka/orders/Consumer/orders-group',
      type: 'Entry',
      component: 'kafka-consumer',
      layer: 'MQ',
      isError: true,
    });
    expect(consumerEntry.refs).to.deep.equal([{ traceId, parentSegmentId: producerSegment, parentSpanId: 1, type: 'CROSS_PROCESS' }]);
    expect(tagsOf(consumerEntry)).to.deep.equal({ 'mq.topic': 'orders', 'mq.broker': '127.0.0.1:9092' });
    expect(consumerEntry.logs).to.deep.equal([{ time: t0 + 80, data: [{ key: 'event', value: 'error' }, { key: 'message', value: 'refused' }] }]);

    const services = await waitForServices(oap.graphqlUrl, [producer, consumer]);
    expect(services.find((service) => service.name === consumer)).to.include({ shortName: consumer, normal: true }).and.have.property('layers').that.deep.equals(['GENERAL']);
  });

  it('waitForTrace names the trace and quotes what the OAP last answered when the predicate never holds', async () => {
    const traceId = `never-reported-${randomUUID()}`;
    const failure = await waitForTrace(oap.graphqlUrl, traceId, (spans) => spans.length > 0, 500).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(failure?.message).to.contain(traceId).and.contain('0 span(s): []');
  });
});

const HANDLER_YML = `handlers: [correlation, tracing, kafka/producer@producer]
defaultHandlers:
  produce: [correlation, tracing, producer]
  consume: [correlation, tracing]
`;

async function tracedService(serviceId: string, collectorAddress: string): Promise<LightService> {
  return LightService.create({
    configDir: configDir({
      'handler.yml': HANDLER_YML,
      'service.yml': serviceYml(serviceId),
      'tracing.yml': `tracer: skywalking\nreporter:\n  flushIntervalMs: 200\nskywalking:\n  collectorAddress: ${collectorAddress}\n  serviceInstance: ${serviceId}-1\n`,
      'kafka-consumer.yml': consumerYml(uniqueName(serviceId)),
      'kafka-producer.yml': producerYml(),
    }),
  });
}

/** Serves `route` through the service's HTTP context (its server spans) on loopback. */
async function serve(service: LightService, route: (request: IncomingMessage, response: ServerResponse) => Promise<void>): Promise<{ url: string; stop(): Promise<void> }> {
  const server = createServer(
    withRequestContext((request, response) => {
      route(request, response).catch(() => ((response.statusCode = 500), response.end()));
    }, { ...service.httpContext, route: (request) => (request.url?.startsWith('/stock/') ? '/stock/{id}' : request.url) }),
  );
  const url = await listen(server);
  return { url, stop: () => close(server) };
}

describe('SkyWalking tracing on a real OAP @broker @skywalking', function () {
  this.timeout(180_000);

  it('HTTP -> Kafka -> HTTP -> Kafka -> consume across two services is one trace the OAP shows, with CROSS_PROCESS references in order', async () => {
    const oap = await useSkyWalking();
    const orders = uniqueName('sw-orders');
    const shipments = uniqueName('sw-shipments');
    await createTopics([orders, shipments, `${orders}.dlq`, `${shipments}.dlq`]);
    const front = await tracedService('sw-front', oap.collectorAddress);
    const back = await tracedService('sw-back', oap.collectorAddress);
    // front: POST /orders produces to `orders`; GET /stock answers back's call; consumes `shipments`.
    const api = await serve(front, async (request, response) => {
      if (request.url?.startsWith('/orders')) await front.producer.send(orders, { key: 'o-1', value: { order: 1 } });
      response.end('ok');
    });
    const received: Exchange[] = [];
    front.consumer.handle(shipments, (exchange) => void received.push(exchange));
    // back: consumes `orders`, asks front's HTTP API, produces to `shipments`.
    back.consumer.handle(orders, async (exchange) => {
      const stock = await back.fetch(`${api.url}/stock/o-1`);
      expect(stock.status).to.equal(200);
      await stock.text();
      await back.producer.send(shipments, { key: exchange.keyString, value: { shipped: true } });
    });
    let traceId: string;
    try {
      await front.start();
      await back.start();
      const response = await fetch(`${api.url}/orders`, { method: 'POST', headers: { 'X-Correlation-Id': 'sw-corr-1' } });
      expect(response.status).to.equal(200);
      await waitFor(() => received.length === 1, 60_000, 'the shipment at front');
      traceId = parseSw8(received[0]!.headers.get('sw8'))!.traceId;
    } finally {
      await api.stop();
      // Stopping flushes each service's segments to the OAP.
      await back.stop();
      await front.stop();
    }

    const spans = await waitForTrace(oap.graphqlUrl, traceId, (found) => found.length >= 7, 60_000);
    const describe = (span: TraceSpan): string => `${span.serviceCode}:${span.type}:${span.endpointName}`;
    const one = (service: string, type: string, endpoint: string): TraceSpan => {
      const matches = spans.filter((span) => span.serviceCode === service && span.type === type && span.endpointName === endpoint);
      expect(matches, `${service} ${type} ${endpoint} in ${spans.map(describe).join(', ')}`).to.have.length(1);
      return matches[0]!;
    };
    expect(spans).to.have.length(7);
    expect(new Set(spans.map((span) => span.traceId))).to.deep.equal(new Set([traceId]));

    const postOrders = one('sw-front', 'Entry', 'POST /orders');
    const sendOrder = one('sw-front', 'Exit', `Kafka/${orders}/Producer`);
    const consumeOrder = spans.find((span) => span.serviceCode === 'sw-back' && span.type === 'Entry' && (span.endpointName ?? '').startsWith(`Kafka/${orders}/Consumer/`))!;
    expect(consumeOrder, spans.map(describe).join(', ')).to.not.equal(undefined);
    const callStock = one('sw-back', 'Exit', 'GET');
    const serveStock = one('sw-front', 'Entry', 'GET /stock/{id}');
    const sendShipment = one('sw-back', 'Exit', `Kafka/${shipments}/Producer`);
    const consumeShipment = spans.find((span) => span.serviceCode === 'sw-front' && span.type === 'Entry' && (span.endpointName ?? '').startsWith(`Kafka/${shipments}/Consumer/`))!;
    expect(consumeShipment, spans.map(describe).join(', ')).to.not.equal(undefined);

    // The hops in order: each entry span refers (CROSS_PROCESS) to the exit span that sent to it.
    const refersTo = (entry: TraceSpan, exit: TraceSpan): void => {
      expect(entry.refs, `${describe(entry)} refs`).to.have.length(1);
      expect(entry.refs[0]).to.deep.include({ type: 'CROSS_PROCESS', parentSegmentId: exit.segmentId, parentSpanId: exit.spanId, traceId });
    };
    expect(postOrders.refs).to.deep.equal([]);
    expect(sendOrder.segmentId).to.equal(postOrders.segmentId);
    expect(sendOrder.parentSpanId).to.equal(postOrders.spanId);
    refersTo(consumeOrder, sendOrder);
    expect([callStock.segmentId, callStock.parentSpanId]).to.deep.equal([consumeOrder.segmentId, consumeOrder.spanId]);
    refersTo(serveStock, callStock);
    expect([sendShipment.segmentId, sendShipment.parentSpanId]).to.deep.equal([consumeOrder.segmentId, consumeOrder.spanId]);
    refersTo(consumeShipment, sendShipment);

    // Components, layers, peers and tags as the SkyWalking agents write them.
    for (const span of [sendOrder, sendShipment]) expect([span.component, span.layer]).to.deep.equal(['kafka-producer', 'MQ']);
    for (const span of [consumeOrder, consumeShipment]) expect([span.component, span.layer]).to.deep.equal(['kafka-consumer', 'MQ']);
    for (const span of [postOrders, serveStock]) expect(span.layer).to.equal('Http');
    expect(callStock.layer).to.equal('Http');
    expect(callStock.peer).to.equal(new URL(api.url).host);
    const broker = front.brokers[0]!;
    expect(sendOrder.peer).to.equal(broker);
    const tags = (span: TraceSpan): Record<string, string | null> => Object.fromEntries(span.tags.map(({ key, value }) => [key, value]));
    expect(tags(sendOrder)).to.include({ 'mq.topic': orders, 'mq.broker': broker, correlation_id: 'sw-corr-1' });
    expect(tags(consumeShipment)).to.include({ 'mq.topic': shipments, correlation_id: 'sw-corr-1' });
    expect(tags(consumeOrder)).to.include({ correlation_id: 'sw-corr-1', 'messaging.kafka.message.key': 'o-1' });
    expect(tags(postOrders)).to.include({ 'http.method': 'POST', 'http.status_code': '200', correlation_id: 'sw-corr-1' });
    expect(tags(serveStock)).to.include({ 'http.url': '/stock/o-1', 'http.route': '/stock/{id}' });
    expect(tags(callStock)).to.include({ 'http.url': `${api.url}/stock/o-1`, 'http.status_code': '200' });
    for (const span of spans) expect(span.isError, describe(span)).to.equal(false);
  });
});
